/**
 * Runs `fn` after every earlier call with the same key has finished, in this
 * process. The daemon sets up the shared bridge and NAT table for each VM it
 * creates; two creations at once would otherwise both see the bridge missing
 * and both run `ip link add`, and the second fails with "File exists".
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
