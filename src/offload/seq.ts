// TCP sequence arithmetic lives with the codec (the capture layer uses it too).
export { after, seqAdd, seqDiff } from '../protocol/seq.ts';
