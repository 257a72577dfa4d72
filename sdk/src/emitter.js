/** `on` / `off` / `once`, as in Twilio's Device and Call objects. A listener that throws is
 * reported and does not stop the others or the SDK. */
export class Emitter {
  constructor() {
    /** @type {Map<string, Set<Function>>} */
    this._listeners = new Map();
  }

  on(name, listener) {
    if (typeof listener !== "function") throw new TypeError("on(name, listener): listener must be a function");
    if (!this._listeners.has(name)) this._listeners.set(name, new Set());
    this._listeners.get(name).add(listener);
    return this;
  }

  off(name, listener) {
    const set = this._listeners.get(name);
    if (!set) return this;
    if (listener === undefined) set.clear();
    else set.delete(listener);
    return this;
  }

  once(name, listener) {
    const wrapper = (...args) => {
      this.off(name, wrapper);
      listener(...args);
    };
    return this.on(name, wrapper);
  }

  _emit(name, ...args) {
    for (const listener of [...(this._listeners.get(name) || [])]) {
      try {
        listener(...args);
      } catch (error) {
        console.error(`ImpactDialer: a "${name}" listener failed`, error);
      }
    }
  }
}
