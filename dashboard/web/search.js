// Symbol search: a combobox with type-ahead over the symbols the page has
// seen (and their names from ref data). `/` or Ctrl+K focuses it (app.js).
import {el} from './format.js';

export class SymbolSearch {
  /** @param input the combobox <input>, list its <ul role="listbox">
   *  @param candidates() → [{sym, name?}], onPick(sym) */
  constructor(input, list, candidates, onPick) {
    Object.assign(this, {input, list, candidates, onPick});
    this.items = []; this.active = -1;
    input.addEventListener('input', () => {
      // The '/' that opened the search is not part of it (some input paths type it anyway).
      if (input.value.startsWith('/')) input.value = input.value.slice(1);
      this.update();
    });
    input.addEventListener('focus', () => this.update());
    input.addEventListener('blur', () => setTimeout(() => this.close(), 150));
    input.addEventListener('keydown', (e) => this.onKey(e));
    list.addEventListener('pointerdown', (e) => e.preventDefault());  // keep focus in the input
    list.addEventListener('click', (e) => { const li = e.target.closest('[data-sym]'); if (li) this.pick(li.dataset.sym); });
  }

  focus() { this.input.focus(); this.input.select(); }

  /** Matches: symbols that start with the text first, then symbols or names that contain it. */
  matches(q) {
    q = q.trim().toUpperCase();
    const all = this.candidates();
    if (!q) return all.slice(0, 12);
    const starts = [], has = [];
    for (const c of all) {
      if (c.sym.startsWith(q)) starts.push(c);
      else if (c.sym.includes(q) || (c.name && c.name.toUpperCase().includes(q))) has.push(c);
    }
    const out = [...starts, ...has].slice(0, 12);
    // A symbol not seen yet can still be opened (it may have history).
    if (/^[A-Z0-9_-]{1,32}$/.test(q) && !out.some((c) => c.sym === q)) out.push({sym: q, name: 'open'});
    return out;
  }

  update() {
    this.items = this.matches(this.input.value);
    this.active = this.items.length ? 0 : -1;
    this.render();
  }

  render() {
    this.list.replaceChildren(...this.items.map((c, i) => {
      const li = el('li', '', null, {role: 'option', id: 'search-opt-' + i, 'data-sym': c.sym, 'aria-selected': String(i === this.active)});
      li.append(el('span', 'sym', c.sym));
      if (c.name) li.append(el('span', 'name', c.name));
      return li;
    }));
    const open = this.items.length > 0 && document.activeElement === this.input;
    this.list.hidden = !open;
    this.input.setAttribute('aria-expanded', String(open));
    if (this.active >= 0) this.input.setAttribute('aria-activedescendant', 'search-opt-' + this.active);
    else this.input.removeAttribute('aria-activedescendant');
  }

  close() { this.list.hidden = true; this.input.setAttribute('aria-expanded', 'false'); this.input.removeAttribute('aria-activedescendant'); }

  pick(sym) {
    this.input.value = '';
    this.close();
    this.input.blur();
    this.onPick(sym);
  }

  onKey(e) {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      if (!this.items.length) this.update();
      const n = this.items.length;
      if (!n) return;
      this.active = (this.active + (e.key === 'ArrowDown' ? 1 : -1) + n) % n;
      this.render();
      this.list.children[this.active]?.scrollIntoView({block: 'nearest'});
    } else if (e.key === 'Enter') {
      e.preventDefault();
      const c = this.items[this.active];
      if (c) this.pick(c.sym);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      this.input.value = '';
      this.close();
      this.input.blur();
    }
  }
}
