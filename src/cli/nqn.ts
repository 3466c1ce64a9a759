// NVMe Qualified Names as the base specification defines them: "nqn." and a date
// (yyyy-mm) the naming authority owned its domain, the domain reversed, ":" and a
// name of that authority's choice; or the UUID form nqn.2014-08.org.nvmexpress:uuid:<uuid>.
// At most 223 bytes of UTF-8. nvmet checks only the length; we refuse typos at start-up.
import { CliError } from './errors.ts';

const MAX_NQN_BYTES = 223;
const UUID_PREFIX = 'nqn.2014-08.org.nvmexpress:uuid:';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LABEL = '[a-z0-9](?:[a-z0-9-]*[a-z0-9])?';
const DOMAIN_FORM = new RegExp(`^nqn\\.\\d{4}-(?:0[1-9]|1[0-2])\\.${LABEL}(?:\\.${LABEL})*:.+$`, 'i');

/** Why `nqn` is not an NQN, or undefined when it is one. */
export function nqnProblem(nqn: string): string | undefined {
  if (Buffer.byteLength(nqn) > MAX_NQN_BYTES) return `is ${Buffer.byteLength(nqn)} bytes, more than ${MAX_NQN_BYTES}`;
  if (nqn.toLowerCase().startsWith(UUID_PREFIX)) {
    return UUID.test(nqn.slice(UUID_PREFIX.length)) ? undefined : `has no UUID after ${UUID_PREFIX}`;
  }
  if (!DOMAIN_FORM.test(nqn)) return 'is not nqn.yyyy-mm.<reverse domain>:<name> nor nqn.2014-08.org.nvmexpress:uuid:<uuid>';
  return undefined;
}

/** `nqn` if it is an NQN; otherwise a CliError "<what>: "<nqn>" <why>". */
export function checkNqn(nqn: string, what: string): string {
  const why = nqnProblem(nqn);
  if (why !== undefined) throw new CliError(`${what}: "${nqn}" ${why}`);
  return nqn;
}
