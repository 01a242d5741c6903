/**
 * The flags node runs the snapshot worker with: its command in docker-compose.yml and
 * deploy/kubernetes/snapshot-worker.yaml (tests check both), and bench/data-path runs its clients with
 * them as well.
 *
 * `--interrupt-budget` (V8, listed by `node --v8-options`: "interrupt budget which should be used for
 * the profiler counter"; Node 20's default 67584) is how much a function runs before V8 considers
 * compiling it with its optimizing compiler. It changes when code is optimized, never what it does. At
 * the default, a volume write has V8 optimize some 150 functions of the HTTP client, streams and the
 * writer, one after the other over the first seconds: a fifth of the writer's CPU on a 2 GiB volume.
 * At 16 times the default only the hottest are optimized (bench/data-path, side by side: writer CPU
 * per GiB about 15% lower, peak RSS 8 MiB lower, the same throughput; a second write in the process,
 * all code warm, no slower).
 */
export const SNAPSHOT_WORKER_NODE_FLAGS: readonly string[] = ['--interrupt-budget=1081344'];
