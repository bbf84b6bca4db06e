/**
 * Runs `fn` after every earlier call with the same key has finished, in this
 * process: the daemon serves requests concurrently, and a check-then-act on a
 * shared host resource (the bridge two VM creations both find missing, a
 * known_hosts file both rewrite) must not interleave. A failed call does not
 * stop the ones queued behind it.
 */
export function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = queues.get(key) ?? Promise.resolve();
  const result = previous.then(fn, fn);
  const tail = result.then(
    () => undefined,
    () => undefined,
  );
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return result;
}

const queues = new Map<string, Promise<void>>();
