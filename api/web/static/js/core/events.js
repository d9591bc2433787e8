/*
 * core/events.js: a tiny emitter for the map's own events, as ctx.on / ctx.emit.
 *
 * Features talk to each other through it instead of importing each other:
 * 'grids-changed' {codes} after an edit (the grid overlays reload),
 * 'grid-selected' {feature, layer}, 'view-changed'. A listener that throws
 * does not stop the others.
 */

export function createEmitter() {
  const listeners = new Map(); // name -> Set of fn(detail)

  function on(name, fn) {
    if (!listeners.has(name)) listeners.set(name, new Set());
    listeners.get(name).add(fn);
    return () => off(name, fn);
  }

  function off(name, fn) {
    const set = listeners.get(name);
    if (set) set.delete(fn);
  }

  function emit(name, detail) {
    (listeners.get(name) || new Set()).forEach((fn) => {
      try {
        fn(detail);
      } catch (err) {
        setTimeout(() => { throw err; }); // reported by the browser, the other listeners still run
      }
    });
  }

  return { on, off, emit };
}
