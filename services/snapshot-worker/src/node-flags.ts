/**
 * The flags node runs the snapshot worker with: its command in docker-compose.yml and
 * deploy/kubernetes/snapshot-worker.yaml (tests check both), and bench/data-path runs its clients with
 * them as well. None at present.
 *
 * Tried and taken out again (2026-12-03): V8's `--interrupt-budget=1081344` (16 times Node 20's
 * default, so V8 optimizes only the hottest functions of a volume write). It lowered peak RSS by 9-10
 * MiB, but on a quiet machine the writer used more CPU per GiB with it than without it (steady 1.267
 * vs 1.060 and 1.126 vs 1.079 s/GiB, two runs of bench/data-path side by side), and an internal V8
 * flag may be renamed or dropped by a later Node, which would stop the worker from starting. A flag
 * goes here only with a figure that shows it pays.
 */
export const SNAPSHOT_WORKER_NODE_FLAGS: readonly string[] = [];
