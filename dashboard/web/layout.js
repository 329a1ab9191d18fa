// Layout controls: splitters that resize the board, chat and lower panels
// (sizes kept as CSS variables on the desk, remembered by prefs), and the
// tabs narrow screens show instead (style.css decides which applies).

/** Wire every .splitter in desk. onChange(sizes) after a drag or key press;
 *  sizes = {'--w-board': '520px', …}. */
export function splitters(desk, onChange) {
  const panels = {'--w-board': '#p-board', '--w-chat': '#p-chat', '--h-lower': '#p-info'};
  const current = (v) => {
    const r = desk.querySelector(panels[v])?.getBoundingClientRect();
    return r ? Math.round(v === '--h-lower' ? r.height : r.width) : 0;
  };
  const sizes = () => Object.fromEntries(Object.keys(panels).map((v) => [v, desk.style.getPropertyValue(v)]).filter(([, x]) => x));
  const set = (sp, px) => {
    const v = sp.dataset.var;
    const box = desk.getBoundingClientRect();
    const max = Math.round(v === '--h-lower' ? box.height * 0.7 : box.width * 0.6);
    px = Math.max(120, Math.min(max, Math.round(px)));
    desk.style.setProperty(v, px + 'px');
    sp.setAttribute('aria-valuenow', String(current(v) || px));
    sp.setAttribute('aria-valuemax', String(max));
  };
  for (const sp of desk.querySelectorAll('.splitter')) {
    const v = sp.dataset.var, horiz = v === '--h-lower', fromEnd = sp.dataset.side === 'end';
    sp.setAttribute('aria-valuemin', '120');
    sp.setAttribute('aria-valuemax', '2000');
    sp.setAttribute('aria-valuenow', String(current(v) || 0));
    sp.addEventListener('pointerdown', (e) => {
      e.preventDefault();
      sp.setPointerCapture(e.pointerId);
      sp.classList.add('dragging');
      const move = (ev) => {
        const box = desk.getBoundingClientRect();
        const px = horiz ? box.bottom - ev.clientY : fromEnd ? box.right - ev.clientX : ev.clientX - box.left;
        set(sp, px);
      };
      const up = () => {
        sp.classList.remove('dragging');
        sp.removeEventListener('pointermove', move);
        sp.removeEventListener('pointerup', up);
        sp.removeEventListener('pointercancel', up);
        onChange(sizes());
      };
      sp.addEventListener('pointermove', move);
      sp.addEventListener('pointerup', up);
      sp.addEventListener('pointercancel', up);
    });
    sp.addEventListener('keydown', (e) => {
      const grow = horiz ? {ArrowUp: 1, ArrowDown: -1} : fromEnd ? {ArrowLeft: 1, ArrowRight: -1} : {ArrowRight: 1, ArrowLeft: -1};
      const dir = grow[e.key];
      if (!dir) return;
      e.preventDefault();
      set(sp, current(v) + dir * (e.shiftKey ? 64 : 16));
      onChange(sizes());
    });
  }
  return {
    apply(saved) { for (const [v, px] of Object.entries(saved || {})) if (panels[v] && /^\d+px$/.test(px)) desk.style.setProperty(v, px); },
    reset() { for (const v of Object.keys(panels)) desk.style.removeProperty(v); onChange({}); },
  };
}

/** Tabs for narrow screens: one panel group at a time. */
export function tabs(nav, desk, onChange) {
  const buttons = [...nav.querySelectorAll('[role="tab"]')];
  const show = (name) => {
    desk.dataset.tab = name;
    for (const b of buttons) {
      const on = b.dataset.tab === name;
      b.setAttribute('aria-selected', String(on));
      b.tabIndex = on ? 0 : -1;
    }
    for (const p of desk.querySelectorAll('[data-tab-of]')) p.classList.toggle('tab-on', p.dataset.tabOf === name);
    onChange?.(name);
  };
  nav.addEventListener('click', (e) => { const b = e.target.closest('[role="tab"]'); if (b) show(b.dataset.tab); });
  nav.addEventListener('keydown', (e) => {
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    const j = e.key === 'ArrowRight' ? (i + 1) % buttons.length : e.key === 'ArrowLeft' ? (i + buttons.length - 1) % buttons.length : -1;
    if (j < 0) return;
    e.preventDefault();
    buttons[j].focus();
    show(buttons[j].dataset.tab);
  });
  show(desk.dataset.tab || 'board');
  return {show};
}
