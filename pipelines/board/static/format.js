/* KPI values written by the rules the page embeds (DATA.formats, from kpi_tree/formats.py):
 * this file applies them and has none of its own, so the board writes what the CLI writes.
 * toLocaleString rounds the number as written, half away from zero, as the Python side does.
 */
function kpiFormats(rules) {
  "use strict";
  function number(value, rule, signed) {
    if (value === null || value === undefined || !isFinite(value)) return rules.missing;
    var shown = value * rule.scale;
    var digits = Math.abs(shown) >= rule.small_below ? rule.decimals : rule.small_decimals;
    var text = Math.abs(shown).toLocaleString("en-US", {
      minimumFractionDigits: digits, maximumFractionDigits: digits
    });
    var zero = /^[0.,]*$/.test(text);
    var sign = zero ? "" : shown < 0 ? "-" : signed ? "+" : "";
    return sign + rule.prefix + text + rule.suffix;
  }
  return {
    value: function (value, unit) { return number(value, rules.units[unit], false); },
    share: function (value, signed) { return number(value, rules.share, !!signed); }
  };
}
