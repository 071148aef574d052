// The changes that turn `a` into `b`, as few and as small as a line diff finds them:
// [{from, to, insert}] in a's offsets, sorted, not overlapping. Lines that are the same in
// both stay untouched, so a cursor or a mark on them stays where it is.
const MAX_CELLS = 4_000_000;  // the LCS table for the lines that differ (past it: one change)

export function diffChanges(a, b) {
  if (a === b) return [];
  const la = splitLines(a), lb = splitLines(b);
  let start = 0;
  while (start < la.length && start < lb.length && la[start] === lb[start]) start++;
  let endA = la.length, endB = lb.length;
  while (endA > start && endB > start && la[endA - 1] === lb[endB - 1]) { endA--; endB--; }
  const offA = offsets(la), offB = offsets(lb);
  const hunks = [];  // [aFrom, aTo, bFrom, bTo] in lines
  const n = endA - start, m = endB - start;
  if (n === 0 || m === 0 || n * m > MAX_CELLS) hunks.push([start, endA, start, endB]);
  else {
    // LCS over the middle lines: table[i][j] = LCS length of la[start+i..], lb[start+j..]
    const w = m + 1;
    const table = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        table[i * w + j] = la[start + i] === lb[start + j]
          ? table[(i + 1) * w + j + 1] + 1
          : Math.max(table[(i + 1) * w + j], table[i * w + j + 1]);
      }
    }
    let i = 0, j = 0, hi = 0, hj = 0;
    while (i < n && j < m) {
      if (la[start + i] === lb[start + j]) {
        if (hi < i || hj < j) hunks.push([start + hi, start + i, start + hj, start + j]);
        i++; j++; hi = i; hj = j;
      } else if (table[(i + 1) * w + j] >= table[i * w + j + 1]) i++;
      else j++;
    }
    if (hi < n || hj < m) hunks.push([start + hi, endA, start + hj, endB]);
  }
  const changes = [];
  for (const [a0, a1, b0, b1] of hunks) {
    let from = offA[a0], to = offA[a1];
    let insFrom = offB[b0], insTo = offB[b1];
    // within the hunk: keep the characters both sides share at its ends
    while (from < to && insFrom < insTo && a.charCodeAt(from) === b.charCodeAt(insFrom)) { from++; insFrom++; }
    while (to > from && insTo > insFrom && a.charCodeAt(to - 1) === b.charCodeAt(insTo - 1)) { to--; insTo--; }
    // never split a surrogate pair
    if (from > offA[a0] && isHigh(a.charCodeAt(from - 1))) { from--; insFrom--; }
    if (to < offA[a1] && isLow(a.charCodeAt(to))) { to++; insTo++; }
    if (from === to && insFrom === insTo) continue;
    changes.push({ from, to, insert: b.slice(insFrom, insTo) });
  }
  return changes;
}

function splitLines(text) {
  const lines = text.split("\n");
  return lines.map((l, i) => (i < lines.length - 1 ? l + "\n" : l));
}

function offsets(lines) {
  const out = new Array(lines.length + 1);
  out[0] = 0;
  for (let i = 0; i < lines.length; i++) out[i + 1] = out[i] + lines[i].length;
  return out;
}

const isHigh = (c) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c) => c >= 0xdc00 && c <= 0xdfff;
