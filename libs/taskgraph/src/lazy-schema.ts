/**
 * A schema built on first use. Constructing zod schemas is most of what
 * loading the API costs (every method's params, result and events: ≈ 35 ms of
 * a CLI start with the garbage it leaves), and one CLI run needs two or three
 * methods. The value behaves as the schema `build` returns: every property
 * read, write and `in` check, and `instanceof`, go to the built schema (zod's
 * own methods are closures over it, so `this` is never the stand-in).
 */
export function lazySchema<T extends object>(build: () => T): T {
  let built: T | undefined;
  const real = (): T => (built ??= build());
  return new Proxy({} as T, {
    get: (_target, key) => Reflect.get(real(), key),
    set: (_target, key, value) => Reflect.set(real(), key, value),
    has: (_target, key) => Reflect.has(real(), key),
    getPrototypeOf: () => Reflect.getPrototypeOf(real()),
  });
}
