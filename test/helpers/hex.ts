// `hex` tagged template for annotated byte fixtures (mqtt-packet style):
//
//   const b = hex`
//     05 01 18 00  1c 00 00 00   # type=CapsuleResp flags=HDGSTF hlen=24 pdo=0 plen=28
//     ${cqe}                     # interpolated bytes (Uint8Array) or hex digits (string)
//   `;
//
// Everything from `#` to the end of a line is a comment; whitespace is ignored. What
// is left must be an even number of hex digits, or the template throws (a fixture
// typo must fail loudly, not produce a short buffer).

/** Hex text of some bytes: `toHex(Buffer.from([1, 0xab]))` = '01ab'. */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** `n` zero bytes, for reserved fields inside a `hex` template. */
export function zeros(n: number): Buffer {
  return Buffer.alloc(n);
}

export function hex(strings: TemplateStringsArray, ...values: (Uint8Array | string)[]): Buffer {
  let text = '';
  let inComment = false;
  for (let i = 0; i < strings.length; i++) {
    const raw = strings.raw[i];
    // A comment left open by the previous segment runs to this segment's first newline.
    const nl = raw.indexOf('\n');
    const rest = inComment ? (nl < 0 ? '' : raw.slice(nl)) : raw;
    if (inComment && nl >= 0) inComment = false;
    text += rest.replace(/#[^\n]*/g, '');
    if (!inComment) inComment = /#[^\n]*$/.test(rest);
    if (i < values.length && !inComment) {
      const v = values[i];
      text += typeof v === 'string' ? v : toHex(v);
    }
  }
  const digits = text.replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) {
    throw new SyntaxError(`hex: not an even run of hex digits: ${JSON.stringify(digits.slice(0, 64))}`);
  }
  return Buffer.from(digits, 'hex');
}
