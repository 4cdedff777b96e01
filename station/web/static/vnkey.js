/* Vietnamese typing for the station's on-screen keyboard: Telex and VNI, no dependency, no CDN.

   applyKey(word, key, {method, style}) takes the letters before the caret and one key, and returns what they
   become. The word is taken apart into letters (with their vowel marks) and one tone, the key changes
   either, and the tone is put back where Vietnamese spelling puts it — so "Vieejt", "Vieetj" and "Vie65t"
   all give "Việt", and a tone typed early moves when the word grows ("hoaf" + "n" → "hoàn").

   Tone placement: style "old" (the default) puts the tone of an open "oa", "oe", "uy" on the first vowel:
   "hòa", "khỏe", "thủy". That is how the records we digitise are written (the national motto on every
   document since Decree 30/2020's templates reads "CỘNG HÒA"), so what the operator types matches the
   paper and its OCR text. style "new" gives "hoà", "khoẻ", "thuỷ". Everything else is the same in both. */
(function (root) {
  "use strict";
  // a base vowel and its five tones, in the order: none, huyền, sắc, hỏi, ngã, nặng
  const TONED = {
    a: "aàáảãạ", "ă": "ăằắẳẵặ", "â": "âầấẩẫậ", e: "eèéẻẽẹ", "ê": "êềếểễệ", i: "iìíỉĩị", o: "oòóỏõọ",
    "ô": "ôồốổỗộ", "ơ": "ơờớởỡợ", u: "uùúủũụ", "ư": "ưừứửữự", y: "yỳýỷỹỵ",
  };
  const SPLIT = {};  // any vowel with a tone -> [base vowel, tone]
  for (const [base, row] of Object.entries(TONED)) for (let t = 0; t < 6; t++) SPLIT[row[t]] = [base, t];
  const MARKED = "ăâêôơư";
  const TELEX_TONE = { f: 1, s: 2, r: 3, x: 4, j: 5 };
  const VNI_TONE = { 2: 1, 1: 2, 3: 3, 4: 4, 5: 5 };
  const CIRC = { a: "â", e: "ê", o: "ô", "ă": "â" };
  const PLAIN = { "â": "a", "ê": "e", "ô": "o", "ă": "a", "ơ": "o", "ư": "u" };

  const isVowel = (c) => c.b in TONED;

  function split(word) {
    let tone = 0;
    const ch = Array.from(word).map((c) => {
      const low = c.toLowerCase();
      const up = c !== low;
      if (SPLIT[low]) { const [b, t] = SPLIT[low]; if (t) tone = t; return { b, up }; }
      return { b: low, up };
    });
    return { ch, tone };
  }

  /* the vowel nucleus [start, end): "qu" and "gi" before another vowel are consonants */
  function nucleus(ch) {
    let i = 0;
    while (i < ch.length && !isVowel(ch[i])) i++;
    if (i === ch.length) return null;
    if (i > 0 && ch[i - 1].b === "q" && ch[i].b === "u" && i + 1 < ch.length && isVowel(ch[i + 1])) i++;
    else if (i === 1 && ch[0].b === "g" && ch[1].b === "i" && ch.length > 2 && isVowel(ch[2])) i++;
    let j = i;
    while (j < ch.length && isVowel(ch[j])) j++;
    return { start: i, end: j, vs: Array.from({ length: j - i }, (_, k) => i + k) };
  }

  function tonePlace(ch, style) {
    const n = nucleus(ch);
    if (!n) return -1;
    const vs = n.vs;
    const horn = vs.find((k) => ch[k].b === "ơ");
    if (horn !== undefined) return horn;  // "ươ": on the ơ
    const marked = vs.filter((k) => MARKED.includes(ch[k].b));
    if (marked.length) return marked[marked.length - 1];
    if (vs.length === 1) return vs[0];
    if (n.end < ch.length) return vs[vs.length - 1];  // a final consonant: "hoàn", "toán", "huýt"
    if (vs.length >= 3) return vs[1];  // "ngoài", "khuỷu"
    const pair = ch[vs[0]].b + ch[vs[1]].b;
    if (style === "new" && (pair === "oa" || pair === "oe" || pair === "uy")) return vs[1];
    return vs[0];
  }

  function join(ch, tone, style) {
    // "uơ" followed by anything is "ươ" ("thuở" stays, "truơng" becomes "trương")
    const n = nucleus(ch);
    if (n) for (const k of n.vs) if (ch[k].b === "u" && ch[k + 1] && ch[k + 1].b === "ơ" && k + 2 < ch.length) ch[k].b = "ư";
    const at = tone ? tonePlace(ch, style) : -1;
    return ch.map((c, k) => {
      const s = k === at ? TONED[c.b][tone] : c.b;
      return c.up ? s.toUpperCase() : s;
    }).join("");
  }

  function applyKey(word, key, opts) {
    const method = (opts && opts.method) || "telex";
    const style = (opts && opts.style) || "old";
    const { ch, tone } = split(word || "");
    const k = key.toLowerCase();
    const up = key !== k;
    const n = nucleus(ch);
    const literal = (t = tone, arr = ch) => join(arr.concat([{ b: k, up }]), t, style);
    if (method !== "telex" && method !== "vni") return (word || "") + key;

    const setTone = (t) => (tone === t ? literal(0) : join(ch, t, style));  // the same tone twice: undo
    const stroke = () => {  // the d among the initial consonants ("QDD" → "QĐ"); typed twice: undone
      const head = ch.slice(0, n ? n.start : ch.length);
      let x = -1;
      head.forEach((c, i) => { if (c.b === "d" || c.b === "đ") x = i; });
      if (x < 0) return literal();
      if (ch[x].b === "d") { ch[x].b = "đ"; return join(ch, tone, style); }
      ch[x].b = "d";
      return literal();
    };
    const revert = (set) => {  // undo a mark: the plain vowels and the key itself
      let did = false;
      for (const x of n.vs) if (set.includes(ch[x].b)) { ch[x].b = PLAIN[ch[x].b]; did = true; }
      return did ? literal() : null;
    };
    const horn = () => {
      const vs = n.vs;
      for (let x = 0; x + 1 < vs.length; x++) {
        const a = ch[vs[x]], b = ch[vs[x + 1]];
        if ((a.b === "u" || a.b === "ư") && b.b === "o") {
          // "uo" at the very end is "uơ" (thuở, huơ); with anything after it is "ươ"
          if (a.b === "u" && vs[x + 1] === ch.length - 1 && x + 2 === vs.length) { b.b = "ơ"; return join(ch, tone, style); }
          a.b = "ư"; b.b = "ơ"; return join(ch, tone, style);
        }
      }
      const undone = revert("ơưă");
      if (undone !== null) return undone;
      const oa = vs.findIndex((x, i) => ch[x].b === "o" && i + 1 < vs.length && ch[vs[i + 1]].b === "a");
      if (oa >= 0) { ch[vs[oa + 1]].b = "ă"; return join(ch, tone, style); }  // "hoặc", "xoắn"
      const uo = vs.find((x) => ch[x].b === "u" || ch[x].b === "o");
      if (uo !== undefined) { ch[uo].b = ch[uo].b === "u" ? "ư" : "ơ"; return join(ch, tone, style); }
      const a = vs.find((x) => ch[x].b === "a");
      if (a !== undefined) { ch[a].b = "ă"; return join(ch, tone, style); }
      return literal();
    };

    if (method === "telex") {
      if (k === "d") return stroke();
      if (k === "w") {
        if (!n) return join(ch.concat([{ b: "ư", up }]), tone, style);  // "w" alone is ư
        return horn();
      }
      if (!n) return literal();
      if (k in TELEX_TONE) return setTone(TELEX_TONE[k]);
      if (k === "z") return tone ? join(ch, 0, style) : literal();
      if (k === "a" || k === "e" || k === "o") {
        const vs = n.vs;
        const done = vs.filter((x) => ch[x].b === CIRC[k]);
        const open = vs.filter((x) => ch[x].b === k || (k === "a" && ch[x].b === "ă"));
        if (open.length) { const x = open[open.length - 1]; ch[x].b = CIRC[ch[x].b]; return join(ch, tone, style); }
        if (done.length) { ch[done[done.length - 1]].b = k; return literal(); }  // "aaa" → "aa"
        return literal();
      }
      return literal();
    }
    // VNI
    if (k === "9") return stroke();
    if (!n) return literal();
    if (k in VNI_TONE) return setTone(VNI_TONE[k]);
    if (k === "0") return tone ? join(ch, 0, style) : literal();
    if (k === "6") {
      const undone = revert("âêô");
      if (undone !== null) return undone;
      const vs = n.vs.filter((x) => "aeoă".includes(ch[x].b));
      if (!vs.length) return literal();
      const x = vs[vs.length - 1];
      ch[x].b = CIRC[ch[x].b];
      return join(ch, tone, style);
    }
    if (k === "7") {
      if (n.vs.some((x) => ch[x].b === "ă")) return literal();
      const h = horn();
      return h;
    }
    if (k === "8") {
      const undone = revert("ă");
      if (undone !== null) return undone;
      const a = n.vs.find((x) => ch[x].b === "a" || ch[x].b === "â");
      if (a === undefined) return literal();
      ch[a].b = "ă";
      return join(ch, tone, style);
    }
    return literal();
  }

  const WORD = /\p{L}*$/u;
  /* what typing `text` key by key gives (spaces and punctuation end a word): for tests and the docs */
  function typeText(text, method, style) {
    let out = "";
    for (const key of Array.from(text)) {
      const modifier = method === "vni" ? /[0-9]/.test(key) : false;
      if (!/\p{L}/u.test(key) && !modifier) { out += key; continue; }
      const word = WORD.exec(out)[0];
      out = out.slice(0, out.length - word.length) + applyKey(word, key, { method, style });
    }
    return out;
  }

  root.VNKey = { applyKey, typeText, WORD };
})(typeof window !== "undefined" ? window : globalThis);
