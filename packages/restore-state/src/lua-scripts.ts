import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * Every change of a restore is one Lua script, so a read-check-write (status transition, step
 * attempt counter, progress total) is atomic even when several workers update the same restore.
 * Scripts never decode JSON (Redis' cjson turns empty arrays into objects): values that hold JSON
 * are built in TypeScript and stored as strings; events are assembled by string concatenation
 * from values that need no escaping or that were escaped with cjson.encode of a plain string.
 */

/** Maximum events kept per restore (approximate trim); progress events dominate. */
export const EVENT_STREAM_MAXLEN = '10000';

/**
 * KEYS: record hash, progress hash, all-restores index, queued index, idempotency key.
 * ARGV: id, createdAt ISO, createdAt ms, mode, request JSON, idempotency body hash ('' = none),
 *       idempotency ttl seconds, step count, step names..., volume count, (device, bytesTotal)...
 */
export const createScript = `
if ARGV[6] ~= '' then
  local existing = redis.call('GET', KEYS[5])
  if existing then return {'existing', existing} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'status', 'queued', 'mode', ARGV[4], 'createdAt', ARGV[2],
  'createdAtMs', ARGV[3], 'updatedAt', ARGV[2], 'request', ARGV[5])
local i = 9
local stepCount = tonumber(ARGV[8])
for n = 1, stepCount do
  local pre = 'step:' .. ARGV[i] .. ':'
  redis.call('HSET', KEYS[1], pre .. 'status', 'pending', pre .. 'attempts', 0, pre .. 'index', n)
  i = i + 1
end
redis.call('HSET', KEYS[1], 'stepCount', stepCount)
local volumeCount = tonumber(ARGV[i])
i = i + 1
for n = 1, volumeCount do
  redis.call('HSET', KEYS[2], 'index:' .. ARGV[i], n, 'total:' .. ARGV[i], ARGV[i + 1], 'done:' .. ARGV[i], 0)
  i = i + 2
end
redis.call('HSET', KEYS[2], 'count', volumeCount)
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
if ARGV[6] ~= '' then
  redis.call('SET', KEYS[5], ARGV[6] .. ' ' .. ARGV[1], 'EX', ARGV[7])
end
return {'created'}
`;

/**
 * KEYS: record hash and progress hash of each restore, in pairs. Returns their fields as flat
 * [field, value, ...] lists in the same order: a whole page in one atomic read with one reply (a
 * MULTI of HGETALLs answers QUEUED per command and is slower to parse).
 */
export const readRecordsScript = `
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HGETALL', key) end
return out
`;

/**
 * KEYS: record hash, event stream, then one index per status in the order of restoreStatuses.
 * ARGV: target status, space-separated statuses it may be reached from, now ISO, result JSON ('' =
 *       keep; for `succeeded`, the result held by holdResult), error JSON ('' = keep), '1' when the target is terminal (adds an end event),
 *       ...statuses in the order of KEYS[3..].
 */
export const transitionScript = `
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {'missing'} end
local target = ARGV[1]
if current == target then return {'same', current} end
local allowed = false
for from in string.gmatch(ARGV[2], '%S+') do
  if from == current then allowed = true end
end
if not allowed then return {'illegal', current} end
redis.call('HSET', KEYS[1], 'status', target, 'updatedAt', ARGV[3])
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'result', ARGV[4])
elseif target == 'succeeded' then
  local held = redis.call('HGET', KEYS[1], 'heldResult')
  if held then redis.call('HSET', KEYS[1], 'result', held) end
end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[5]) end
local id = redis.call('HGET', KEYS[1], 'id')
local score = redis.call('HGET', KEYS[1], 'createdAtMs')
for k = 3, #KEYS do
  if ARGV[4 + k] == target then
    redis.call('ZADD', KEYS[k], score, id)
  else
    redis.call('ZREM', KEYS[k], id)
  end
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ${EVENT_STREAM_MAXLEN}, '*', 'type', 'status',
  'data', '{"status":"' .. target .. '","previous":"' .. current .. '"}')
if ARGV[6] == '1' then
  local result = redis.call('HGET', KEYS[1], 'result') or 'null'
  local err = redis.call('HGET', KEYS[1], 'error') or 'null'
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ${EVENT_STREAM_MAXLEN}, '*', 'type', 'end',
    'data', '{"status":"' .. target .. '","result":' .. result .. ',"error":' .. err .. '}')
end
return {'ok', current}
`;

/** Upper bounds (seconds) of the step duration histogram buckets kept in the metrics hash. */
export const STEP_DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200];

/**
 * KEYS: record hash, event stream, queued index, running index, metrics hash.
 * ARGV: operation (start, finish, attempt), step name, now ISO, finished status (finish only),
 *       now ms, step kind (for metrics: the name up to its first ':').
 * Starting a step of a queued restore moves the restore to running. Finishing a running step adds
 * its duration (first start to finish) to the step-duration histogram in the metrics hash.
 */
export const stepScript = `
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {'missing'} end
local op = ARGV[1]
local pre = 'step:' .. ARGV[2] .. ':'
if redis.call('HEXISTS', KEYS[1], pre .. 'status') == 0 then
  local index = redis.call('HINCRBY', KEYS[1], 'stepCount', 1)
  redis.call('HSET', KEYS[1], pre .. 'status', 'pending', pre .. 'attempts', 0, pre .. 'index', index)
end
local attempts
if op == 'start' then
  attempts = redis.call('HINCRBY', KEYS[1], pre .. 'attempts', 1)
  redis.call('HSET', KEYS[1], pre .. 'status', 'running')
  redis.call('HSETNX', KEYS[1], pre .. 'startedAt', ARGV[3])
  redis.call('HSETNX', KEYS[1], pre .. 'startedAtMs', ARGV[5])
  redis.call('HDEL', KEYS[1], pre .. 'finishedAt')
elseif op == 'finish' then
  attempts = tonumber(redis.call('HGET', KEYS[1], pre .. 'attempts'))
  local wasRunning = redis.call('HGET', KEYS[1], pre .. 'status') == 'running'
  local startedMs = redis.call('HGET', KEYS[1], pre .. 'startedAtMs')
  redis.call('HSET', KEYS[1], pre .. 'status', ARGV[4], pre .. 'finishedAt', ARGV[3])
  if wasRunning and startedMs then
    local seconds = (tonumber(ARGV[5]) - tonumber(startedMs)) / 1000
    local m = 'step:' .. ARGV[6] .. ':' .. ARGV[4] .. ':'
    redis.call('HINCRBYFLOAT', KEYS[5], m .. 'sum', string.format('%.3f', seconds))
    redis.call('HINCRBY', KEYS[5], m .. 'count', 1)
    for _, bound in ipairs({${STEP_DURATION_BUCKETS.join(', ')}}) do
      if seconds <= bound then redis.call('HINCRBY', KEYS[5], m .. 'le:' .. bound, 1) end
    end
  end
else
  attempts = redis.call('HINCRBY', KEYS[1], pre .. 'attempts', 1)
end
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[3])
local stepStatus = redis.call('HGET', KEYS[1], pre .. 'status')
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ${EVENT_STREAM_MAXLEN}, '*', 'type', 'step',
  'data', '{"name":' .. cjson.encode(ARGV[2]) .. ',"status":"' .. stepStatus .. '","attempts":' .. attempts .. '}')
if op == 'start' and current == 'queued' then
  local id = redis.call('HGET', KEYS[1], 'id')
  local score = redis.call('HGET', KEYS[1], 'createdAtMs')
  redis.call('HSET', KEYS[1], 'status', 'running')
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZADD', KEYS[4], score, id)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ${EVENT_STREAM_MAXLEN}, '*', 'type', 'status',
    'data', '{"status":"running","previous":"queued"}')
end
return {'ok', attempts}
`;

/**
 * Lua: stops (`missing`) when the restore record KEYS[1] is gone; `device` (ARGV[1]) gets its entry in
 * the progress hash KEYS[2] (index, total 0) the first time it is seen.
 */
const VOLUME_ENTRY = `if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local device = ARGV[1]
if redis.call('HEXISTS', KEYS[2], 'index:' .. device) == 0 then
  local index = redis.call('HINCRBY', KEYS[2], 'count', 1)
  redis.call('HSET', KEYS[2], 'index:' .. device, index, 'total:' .. device, 0)
end`;

/** Lua: `done` and `total`, the bytes written and to write of every volume in the progress hash KEYS[2]. */
const SUM_PROGRESS = `local fields = redis.call('HGETALL', KEYS[2])
local done, total = 0, 0
for k = 1, #fields, 2 do
  local name = fields[k]
  if string.sub(name, 1, 5) == 'done:' then done = done + tonumber(fields[k + 1]) end
  if string.sub(name, 1, 6) == 'total:' then total = total + tonumber(fields[k + 1]) end
end`;

/**
 * KEYS: record hash, progress hash, event stream, metrics hash.
 * ARGV: device name, bytes done, bytes total ('' = keep), now ISO.
 * Bytes done growing adds the growth to the bytes-written counter of the metrics hash.
 */
export const progressScript = `
${VOLUME_ENTRY}
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], 'total:' .. device, ARGV[3]) end
local before = tonumber(redis.call('HGET', KEYS[2], 'done:' .. device) or '0')
local growth = tonumber(ARGV[2]) - before
if growth > 0 then redis.call('HINCRBY', KEYS[4], 'bytes-written', growth) end
redis.call('HSET', KEYS[2], 'done:' .. device, ARGV[2])
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[4])
${SUM_PROGRESS}
local volumeTotal = redis.call('HGET', KEYS[2], 'total:' .. device)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ${EVENT_STREAM_MAXLEN}, '*', 'type', 'progress',
  'data', '{"deviceName":' .. cjson.encode(device) .. ',"bytesDone":' .. ARGV[2] .. ',"bytesTotal":' ..
  volumeTotal .. ',"totalDone":' .. string.format('%.0f', done) .. ',"total":' .. string.format('%.0f', total) .. '}')
return {'ok'}
`;

/**
 * KEYS: record hash, progress hash, event stream, metrics hash.
 * ARGV: device name, bytes verified, now ISO.
 * Puts the volume in the verify phase; bytes verified growing adds the growth to the bytes-verified
 * counter of the metrics hash (a job that verifies again from 0 counts only what it verifies beyond).
 */
export const verifyProgressScript = `
${VOLUME_ENTRY}
local before = tonumber(redis.call('HGET', KEYS[2], 'verified:' .. device) or '0')
local growth = tonumber(ARGV[2]) - before
if growth > 0 then redis.call('HINCRBY', KEYS[4], 'bytes-verified', growth) end
redis.call('HSET', KEYS[2], 'verified:' .. device, ARGV[2], 'phase:' .. device, 'verify')
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[3])
${SUM_PROGRESS}
local volumeTotal = redis.call('HGET', KEYS[2], 'total:' .. device)
local volumeDone = redis.call('HGET', KEYS[2], 'done:' .. device) or '0'
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ${EVENT_STREAM_MAXLEN}, '*', 'type', 'progress',
  'data', '{"deviceName":' .. cjson.encode(device) .. ',"phase":"verify","bytesDone":' .. volumeDone ..
  ',"bytesVerified":' .. ARGV[2] .. ',"bytesTotal":' .. volumeTotal .. ',"totalDone":' ..
  string.format('%.0f', done) .. ',"total":' .. string.format('%.0f', total) .. '}')
return {'ok'}
`;

const shaCache = new Map<string, string>();

/**
 * Runs a script by its SHA and loads it on NOSCRIPT, so the body crosses the wire once per
 * Redis server rather than on every call.
 */
export async function runScript(
  redis: Redis,
  script: string,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<string[]> {
  let sha = shaCache.get(script);
  if (sha === undefined) {
    sha = createHash('sha1').update(script).digest('hex');
    shaCache.set(script, sha);
  }
  try {
    return (await redis.evalsha(sha, keys.length, ...keys, ...args)) as string[];
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return (await redis.eval(script, keys.length, ...keys, ...args)) as string[];
  }
}
