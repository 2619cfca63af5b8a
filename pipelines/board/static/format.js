/* KPI values written by the rules the page embeds for a language (DATA.formats.en / .zh, from
 * kpi_tree/formats.py, made from Babel's patterns for the shop's currency and that language's
 * locale): this file applies them and has none of its own, so the board writes what the CLI
 * writes. toLocaleString only rounds (half away from zero, the number as written, as the
 * Python side does); the symbols, the grouping and what goes before and after are the rules'.
 * compact() writes amounts and counts in the locale's compact form (万/亿, K/M) as
 * Formats.compact does: three significant digits, rounded into the next magnitude when it
 * reaches it, trailing zeros dropped.
 */
function kpiFormats(rules) {
  "use strict";
  function group(digits, sizes) {
    // as Babel groups: the first group from the right has sizes[0] digits, the others sizes[1]
    var out = "", size = sizes[0];
    while (digits.length > size) {
      out = rules.group + digits.slice(digits.length - size) + out;
      digits = digits.slice(0, digits.length - size);
      size = sizes[1];
    }
    return digits + out;
  }
  function number(value, rule, signed) {
    if (value === null || value === undefined || !isFinite(value)) return rules.missing;
    var shown = value * rule.scale;
    var digits = Math.abs(shown) >= rule.small_below ? rule.decimals : rule.small_decimals;
    var text = Math.abs(shown).toLocaleString("en-US", {
      minimumFractionDigits: digits, maximumFractionDigits: digits, useGrouping: false
    });
    var zero = /^[0.]*$/.test(text);
    var negative = !zero && shown < 0 ? 1 : 0;
    var parts = text.split(".");
    var body = group(parts[0], rule.grouping) + (parts.length > 1 ? rules.decimal + parts[1] : "");
    var sign = !zero && !negative && signed ? rules.plus : "";
    return sign + rule.prefix[negative] + body + rule.suffix[negative];
  }
  function integerDigits(magnitude) { return String(Math.floor(magnitude)).length; }
  function compact(value, unit) {
    var steps = rules.compact[unit];
    if (!steps || value === null || value === undefined || !isFinite(value)) {
      return number(value, rules.units[unit], false);
    }
    var magnitude = Math.abs(value), step, text, i;
    for (;;) {
      step = null;
      for (i = 0; i < steps.length && steps[i].from <= magnitude; i++) step = steps[i];
      if (!step) return number(value, rules.units[unit], false);
      var significant = Math.max(rules.compact_digits, integerDigits(magnitude) - step.exponent);
      // an integer: the compact magnitudes start at 1,000, above three significant digits
      text = magnitude.toLocaleString("en-US", { maximumSignificantDigits: significant, useGrouping: false });
      var next = steps[i];
      if (next && Number(text) >= next.from) { magnitude = Number(text); continue; }
      break;
    }
    while (text.length <= step.exponent) text = "0" + text;
    var whole = text.slice(0, text.length - step.exponent);
    var fraction = text.slice(text.length - step.exponent).replace(/0+$/, "");
    var negative = value < 0 ? 1 : 0;
    return step.prefix[negative] + whole + (fraction ? rules.decimal + fraction : "") + step.suffix[negative];
  }
  return {
    value: function (value, unit) { return number(value, rules.units[unit], false); },
    compact: compact,
    share: function (value, signed) { return number(value, rules.share, !!signed); }
  };
}
