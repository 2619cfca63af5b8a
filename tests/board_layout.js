/* The board's layout, measured in the page (tests/test_board.py): boxes that spill out of their
 * card, cell or row, cards or cells drawn over each other, a table or a value cut short. */
() => {
  const bad = [];
  const R = (e) => e.getBoundingClientRect();
  const inside = (a, b) => a.left >= b.left - 1 && a.right <= b.right + 1 && a.top >= b.top - 1 && a.bottom <= b.bottom + 1;
  const overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
  const shown = (e) => { const r = R(e); return r.width > 0 && r.height > 0; };
  const say = (e) => (e.className && e.className.baseVal === undefined ? e.tagName + "." + e.className : e.tagName) + " «" + (e.textContent || "").trim().slice(0, 30) + "»";
  const contents = (e) => { const r = document.createRange(); r.selectNodeContents(e); return r.getBoundingClientRect(); };
  const cards = [...document.querySelectorAll(".team-card, .kpi-card, .team-tile")].filter(shown);
  cards.forEach((card, i) => {
    const cr = R(card);
    card.querySelectorAll("*").forEach((e) => { if (shown(e) && !inside(R(e), cr)) bad.push("outside its card: " + say(e)); });
    cards.slice(i + 1).forEach((o) => { if (overlap(cr, R(o))) bad.push("cards overlap: " + say(card) + " / " + say(o)); });
  });
  document.querySelectorAll("table.data").forEach((table) => {
    if (!shown(table)) return;
    const head = table.querySelector("thead");
    const headShown = !head || R(head).width > 1;
    const cells = [...table.querySelectorAll("th, td")].filter((c) => shown(c) && (headShown || c.tagName !== "TH"));
    cells.forEach((c, i) => {
      const cr = R(c);
      if (!inside(contents(c), cr)) bad.push("spills out of its cell: " + say(c));
      cells.slice(i + 1).forEach((o) => { if (overlap(cr, R(o))) bad.push("cells overlap: " + say(c) + " / " + say(o)); });
    });
    const scroll = table.closest(".table-scroll");
    if (scroll && scroll.scrollWidth > scroll.clientWidth + 1) bad.push("table scrolls sideways: " + say(table.querySelector("th,td")));
  });
  document.querySelectorAll("#tree .node").forEach((row) => {
    const rr = R(row);
    row.querySelectorAll(".cell").forEach((c) => {
      if (!shown(c)) return;
      if (!inside(R(c), rr)) bad.push("outside its row: " + say(c));
      if (c.scrollWidth > c.clientWidth + 1) bad.push("cut short: " + say(c));
    });
  });
  const box = (sel) => { const e = document.querySelector(sel); if (!e) return null; const r = R(e); return [r.left + scrollX, r.top + scrollY, r.right + scrollX, r.bottom + scrollY]; };
  return { bad: bad, scrollWidth: document.documentElement.scrollWidth,
           headline: box("#headline"), root: box("#tree .node"), problems: box("#problems summary") };
}
