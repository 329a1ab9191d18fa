// Local event handlers: on/off/once and dispatch. A handler that throws
// does not stop the others; its error is rethrown on a fresh task so it
// still reaches the console (and window.onerror).

export class Emitter {
  constructor() { this.handlers = new Map(); }

  on(ev, fn) {
    if (!this.handlers.has(ev)) this.handlers.set(ev, new Set());
    this.handlers.get(ev).add(fn);
    return this;
  }

  off(ev, fn) { this.handlers.get(ev)?.delete(fn); return this; }

  once(ev, fn) {
    const w = (...a) => { this.off(ev, w); fn(...a); };
    return this.on(ev, w);
  }

  /** Call every handler of ev with args (a copy of the set: handlers may
   *  remove themselves). */
  dispatch(ev, ...args) {
    for (const fn of [...(this.handlers.get(ev) || [])]) {
      try { fn(...args); } catch (e) { setTimeout(() => { throw e; }); }
    }
  }
}
