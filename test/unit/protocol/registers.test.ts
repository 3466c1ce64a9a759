// CC and CSTS field constants against the bit ranges of the NVMe Base specification
// (Controller Properties) and the values the Linux host writes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cc, Csts } from '../../../src/protocol/constants.ts';

/** Mask of bits hi..lo inclusive. */
const bits = (hi: number, lo: number): number => ((2 ** (hi - lo + 1) - 1) * 2 ** lo) >>> 0;

test('registers - CC field masks cover the spec bit ranges and do not overlap', () => {
  const fields: [string, number, number, number][] = [
    ['EN', Cc.EN, 0, 0],
    ['CSS', Cc.CSS_MASK, 6, 4],
    ['MPS', Cc.MPS_MASK, 10, 7],
    ['AMS', Cc.AMS_MASK, 13, 11],
    ['SHN', Cc.SHN_MASK, 15, 14],
    ['IOSQES', Cc.IOSQES_MASK, 19, 16],
    ['IOCQES', Cc.IOCQES_MASK, 23, 20],
  ];
  let seen = 0;
  for (const [name, mask, hi, lo] of fields) {
    assert.equal(mask, bits(hi, lo), `CC.${name}`);
    assert.equal(seen & mask, 0, `CC.${name} overlaps another field`);
    seen |= mask;
  }
});

test('registers - CC values sit inside their fields; the Linux enable value is 0x00460000 | EN', () => {
  assert.equal(Cc.CSS_NVM & ~Cc.CSS_MASK, 0);
  assert.equal(Cc.CSS_ADMIN_ONLY, 0b111 << 4);
  assert.equal(Cc.SHN_NORMAL, 0b01 << 14);
  assert.equal(Cc.IOSQES_64, 6 << 16);
  assert.equal(Cc.IOCQES_16, 4 << 20);
  // nvme_enable_ctrl: CSS NVM, MPS 0 (4 KiB pages), AMS round robin, IOSQES 6, IOCQES 4.
  assert.equal(Cc.IOCQES_16 | Cc.IOSQES_64 | Cc.EN, 0x0046_0001);
  assert.equal(Cc.IOCQES_16 | Cc.IOSQES_64 | Cc.EN | Cc.SHN_NORMAL, 0x0046_4001);
});

test('registers - CSTS bits: RDY 0, CFS 1, SHST 3:2 with occurring 01b and complete 10b', () => {
  assert.equal(Csts.RDY, bits(0, 0));
  assert.equal(Csts.CFS, bits(1, 1));
  assert.equal(Csts.SHST_MASK, bits(3, 2));
  assert.equal(Csts.SHST_MASK >> Csts.SHST_SHIFT, 0b11);
  assert.equal(Csts.SHST_OCCURRING >> Csts.SHST_SHIFT, 0b01);
  assert.equal(Csts.SHST_COMPLETE >> Csts.SHST_SHIFT, 0b10);
});
