#!/usr/bin/python3
"""Independent checker for the Puente v1 test vectors (tests/vectors/puente-v1.txt).

Written from proto/PROTOCOL.md and proto/*.proto alone: no C code, no protoc output.
Needs only the Python 3 standard library and PyNaCl (Debian's python3-nacl, 1.5).

    /usr/bin/python3 tests/vectors/check_vectors.py tests/vectors/puente-v1.txt

Prints one line per check ("ok: ..." or "FAIL: ...") and ends with "N passed, M failed";
the exit status is 0 only when nothing failed.
"""

import hashlib
import hmac
import re
import struct
import sys

try:
    import nacl.bindings as nb
    import nacl.exceptions
    import nacl.signing
except Exception as e:  # pragma: no cover - reported as a failure below
    nb = None
    _NACL_ERROR = e
else:
    _NACL_ERROR = None


# --------------------------------------------------------------------------------------
# Check runner: every check is a function run at once; an exception or a False result is
# a failure carrying the exception text, never a crash.

class CheckFailed(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise CheckFailed(what)


def expect_eq(got, want, what):
    if got != want:
        g = got.hex() if isinstance(got, (bytes, bytearray)) else repr(got)
        w = want.hex() if isinstance(want, (bytes, bytearray)) else repr(want)
        raise CheckFailed("%s: got %s, expected %s" % (what, g, w))


PASSED = 0
FAILED = 0


def check(label):
    def run(fn):
        global PASSED, FAILED
        try:
            detail = fn()
            if detail is False:
                raise CheckFailed("check returned False")
        except Exception as e:  # noqa: BLE001 - any exception is a failed check
            FAILED += 1
            print("FAIL: %s: %s: %s" % (label, type(e).__name__, e))
        else:
            PASSED += 1
            print("ok: %s%s" % (label, (" -- %s" % detail) if isinstance(detail, str) and detail else ""))
        return fn
    return run


# --------------------------------------------------------------------------------------
# Primitives of PROTOCOL.md §1 and §4.

def u32be(n):
    return struct.pack(">I", n)


def lp(x):
    if isinstance(x, str):
        x = x.encode("utf-8")
    return u32be(len(x)) + bytes(x)


def signing_input(context, *fields):
    return lp(context) + b"".join(lp(f) for f in fields)


def person(p):
    p = p.encode("ascii")
    if len(p) > 16:
        raise ValueError("personalisation longer than 16 bytes: %r" % p)
    return p + b"\0" * (16 - len(p))


def b2b(data, p=None, key=b"", size=32):
    """BLAKE2b-<8*size>[p, key](data); no salt."""
    kw = {"digest_size": size}
    if p is not None:
        kw["person"] = person(p)
    if key:
        kw["key"] = key
    return hashlib.blake2b(bytes(data), **kw).digest()


def b2b_nacl(data, p, key=b"", size=32):
    """The same hash through libsodium, to cross-check the hashlib parameter block."""
    return nb.crypto_generichash_blake2b_salt_personal(
        bytes(data), digest_size=size, key=key, salt=b"\0" * 16, person=person(p))


def key_id(purpose, public_key):
    return b2b(bytes([purpose]) + public_key, "puente/1 keyid", size=16)


def hkdf_sha256(ikm, salt, info, length=32):
    """RFC 5869 HKDF with SHA-256."""
    if not salt:
        salt = b"\0" * 32
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, t, i = b"", b"", 1
    while len(okm) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        okm += t
        i += 1
    return okm[:length]


def ed25519_verify(public_key, message, signature):
    expect(len(signature) == 64, "signature is %d bytes, not 64" % len(signature))
    expect(len(public_key) == 32, "public key is %d bytes, not 32" % len(public_key))
    try:
        nacl.signing.VerifyKey(bytes(public_key)).verify(bytes(message), bytes(signature))
    except nacl.exceptions.BadSignatureError:
        raise CheckFailed("Ed25519 signature does not verify")


def x25519(secret, public):
    shared = nb.crypto_scalarmult(secret, public)
    expect(shared != b"\0" * 32, "X25519 result is all zero (PU_ERR_LOW_ORDER_KEY)")
    return shared


# --------------------------------------------------------------------------------------
# A minimal protobuf (proto3) wire-format reader/writer, schema-driven, with the
# acceptance rules of PROTOCOL.md §3: unknown fields, enum values, UTF-8, limits and
# canonical form (decode, re-encode, compare).

class PBError(Exception):
    pass


def read_varint(b, i):
    v, shift = 0, 0
    while True:
        if i >= len(b):
            raise PBError("truncated varint")
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            break
        shift += 7
        if shift >= 70:
            raise PBError("varint longer than 10 bytes")
    if v >> 64:
        raise PBError("varint above 64 bits")
    return v, i


def varint(v):
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        if v:
            out.append(c | 0x80)
        else:
            out.append(c)
            return bytes(out)


def read_fields(b):
    """The raw (field number, wire type, value) triples of one message."""
    i, out = 0, []
    while i < len(b):
        key, i = read_varint(b, i)
        fn, wt = key >> 3, key & 7
        if fn == 0 or fn >= 1 << 29:
            raise PBError("bad field number %d" % fn)
        if wt == 0:
            v, i = read_varint(b, i)
        elif wt == 2:
            n, i = read_varint(b, i)
            if n > len(b) - i:
                raise PBError("length-delimited field %d runs past the end" % fn)
            v, i = bytes(b[i:i + n]), i + n
        elif wt in (1, 5):
            n = 8 if wt == 1 else 4
            if n > len(b) - i:
                raise PBError("fixed field %d runs past the end" % fn)
            v, i = bytes(b[i:i + n]), i + n
        else:
            raise PBError("unsupported wire type %d (field %d)" % (wt, fn))
        out.append((fn, wt, v))
    return out


class F:
    """A schema field: kind is u32, u64, i64, enum, string, bytes, msg or raw (an
    embedded message kept as its bytes); ref names the enum or message; size/count
    override the §3 default limits."""

    def __init__(self, name, kind, rep=False, ref=None, size=None, count=None):
        self.name, self.kind, self.rep, self.ref = name, kind, rep, ref
        self.size, self.count = size, count


VARINT_KINDS = ("u32", "u64", "i64", "enum")

ENUMS = {  # highest defined value; every enum in proto/*.proto is 0..max
    "MessageType": 19, "AdoptionScope": 2, "Role": 4, "KeyPurpose": 5,
    "KeyStatus": 3, "AgencyStatus": 3, "ReceiptOutcome": 4,
}

SCHEMAS = {
    # frames.proto
    "Hello": {1: F("version", "u32"), 2: F("directory_serial", "u64"),
              3: F("checkpoint", "string", size=4096)},
    # envelope.proto
    "RecipientStanza": {1: F("agency_id", "string"), 2: F("key_id", "bytes"),
                        3: F("ephemeral_public", "bytes"), 4: F("wrapped_key", "bytes")},
    "HeaderCore": {
        1: F("version", "u32"), 2: F("msg_id", "bytes"), 3: F("sender", "string"),
        4: F("sender_key_id", "bytes"),
        5: F("recipients", "msg", rep=True, ref="RecipientStanza"),
        6: F("type", "enum", ref="MessageType"), 7: F("adoption_scope", "enum", ref="AdoptionScope"),
        8: F("case_id", "string"), 9: F("created_at", "i64"), 10: F("expires_at", "i64"),
        11: F("in_reply_to", "bytes"), 12: F("respond_by", "i64"),
        13: F("content_length", "u64"), 14: F("chunk_count", "u32"),
        15: F("stream_header", "bytes"), 16: F("key_commitment", "bytes")},
    "Manifest": {1: F("chunk_hashes", "bytes", rep=True, size=32, count=4096)},
    "SignedHeader": {1: F("core", "bytes", size=16384), 2: F("manifest", "bytes", size=139264),
                     3: F("signature", "bytes")},
    # directory.proto
    "Key": {1: F("key_id", "bytes"), 2: F("purpose", "enum", ref="KeyPurpose"),
            3: F("public_key", "bytes"), 4: F("not_before", "i64"), 5: F("not_after", "i64"),
            6: F("status", "enum", ref="KeyStatus"), 7: F("status_since", "i64")},
    "Agency": {1: F("id", "string"), 2: F("role", "enum", ref="Role"), 3: F("state", "string"),
               4: F("name", "string"), 5: F("status", "enum", ref="AgencyStatus"),
               6: F("status_since", "i64"),
               7: F("may_send", "enum", rep=True, ref="MessageType", count=64),
               8: F("may_receive", "enum", rep=True, ref="MessageType", count=64),
               9: F("keys", "msg", rep=True, ref="Key", count=64),
               10: F("origin", "string"), 11: F("address", "string")},
    "RolePolicy": {1: F("role", "enum", ref="Role"),
                   2: F("may_send", "enum", rep=True, ref="MessageType", count=64),
                   3: F("may_receive", "enum", rep=True, ref="MessageType", count=64)},
    "Directory": {1: F("version", "u32"), 2: F("federation", "string"), 3: F("serial", "u64"),
                  4: F("issued_at", "i64"), 5: F("expires_at", "i64"),
                  6: F("ca_cert_sha256", "bytes"),
                  7: F("role_policies", "msg", rep=True, ref="RolePolicy"),
                  8: F("agencies", "msg", rep=True, ref="Agency", count=4096),
                  9: F("witnesses", "string", rep=True, count=64)},
    "SignedDirectory": {1: F("directory", "bytes", size=4194304), 2: F("root_key_id", "bytes"),
                        3: F("signature", "bytes")},
    # receipts.proto
    "Signed": {1: F("body", "bytes", size=65536), 2: F("key_id", "bytes"), 3: F("signature", "bytes")},
    "RecipientReceipt": {1: F("recipient", "string"), 2: F("msg_id", "bytes"),
                         3: F("header_hash", "bytes"), 4: F("outcome", "enum", ref="ReceiptOutcome"),
                         5: F("plaintext_mac", "bytes"), 6: F("at", "i64")},
    # casefile.proto (the payloads 101..119 are kept as bytes: only their number is checked)
    "Attachment": {1: F("name", "string", size=1024), 2: F("media_type", "string"),
                   3: F("size", "u64"), 4: F("blake2b", "bytes")},
    "CaseMessage": dict(
        [(1, F("type", "enum", ref="MessageType")), (2, F("case_id", "string")),
         (3, F("summary", "string", size=65536)),
         (4, F("attachments", "msg", rep=True, ref="Attachment", count=256))]
        + [(100 + t, F("payload_%d" % (100 + t), "raw")) for t in range(1, ENUMS["MessageType"] + 1)]),
}

LIMITS = {"wire": (256, 64, 16), "case": (16384, 64, 1024)}  # string, bytes, repeated


def _default(f):
    if f.rep:
        return []
    return {"string": "", "bytes": b"", "msg": None, "raw": None}.get(f.kind, 0)


def _scalar(f, v, where):
    if f.kind == "u32":
        if v >> 32:
            raise PBError("%s: uint32 out of range" % where)
    elif f.kind == "i64":
        if v >> 63:
            v -= 1 << 64
    elif f.kind == "enum":
        if v >> 63:
            v -= 1 << 64
        if not 0 <= v <= ENUMS[f.ref]:
            raise PBError("%s: value %d is not a defined %s (PU_ERR_PB_ENUM)" % (where, v, f.ref))
    return v


def decode(name, data, ctx="wire"):
    """Decode `data` as message `name`, applying the checks of §3 (canonical included)."""
    obj = _decode(name, data, ctx)
    again = encode(name, obj)
    if again != bytes(data):
        raise PBError("%s is not canonical (PU_ERR_PB_NONCANONICAL): re-encoding gives %s"
                      % (name, again.hex()))
    return obj


def _decode(name, data, ctx):
    schema = SCHEMAS[name]
    obj = {f.name: _default(f) for f in schema.values()}
    for fn, wt, v in read_fields(data):
        f = schema.get(fn)
        where = "%s.%s" % (name, f.name if f else fn)
        if f is None:
            raise PBError("%s: unknown field (PU_ERR_PB_UNKNOWN_FIELD)" % where)
        if f.kind in VARINT_KINDS:
            if wt == 0:
                vals = [v]
            elif wt == 2 and f.rep:
                vals, i = [], 0
                while i < len(v):
                    x, i = read_varint(v, i)
                    vals.append(x)
            else:
                raise PBError("%s: wire type %d for a varint field" % (where, wt))
            vals = [_scalar(f, x, where) for x in vals]
        else:
            if wt != 2:
                raise PBError("%s: wire type %d for a length-delimited field" % (where, wt))
            if f.kind == "string":
                try:
                    s = v.decode("utf-8")  # strict: no overlong forms, surrogates, > U+10FFFF
                except UnicodeDecodeError as e:
                    raise PBError("%s: invalid UTF-8 (PU_ERR_PB_UTF8): %s" % (where, e))
                if "\0" in s:
                    raise PBError("%s: embedded NUL" % where)
                vals = [s]
            elif f.kind == "msg":
                vals = [_decode(f.ref, v, ctx)]
            elif f.kind == "raw":
                read_fields(v)  # well-formed protobuf at least
                vals = [v]
            else:
                vals = [v]
        if f.rep:
            obj[f.name].extend(vals)
        else:
            obj[f.name] = vals[-1]  # a repeated singular field shows up as non-canonical
    dstr, dbytes, dcount = LIMITS[ctx]
    for f in schema.values():
        where = "%s.%s" % (name, f.name)
        vals = obj[f.name] if f.rep else [obj[f.name]]
        if f.rep and len(vals) > (f.count or dcount):
            raise PBError("%s: %d elements, limit %d (PU_ERR_PB_LIMIT)" % (where, len(vals), f.count or dcount))
        if f.kind in ("string", "bytes"):
            lim = f.size or (dstr if f.kind == "string" else dbytes)
            for x in vals:
                n = len(x.encode("utf-8")) if f.kind == "string" else len(x)
                if n > lim:
                    raise PBError("%s: %d bytes, limit %d (PU_ERR_PB_LIMIT)" % (where, n, lim))
    return obj


def _key(fn, wt):
    return varint((fn << 3) | wt)


def encode(name, obj):
    """Canonical encoding (§3 rule 5) of a decoded message."""
    schema = SCHEMAS[name]
    out = bytearray()
    for fn in sorted(schema):
        f = schema[fn]
        val = obj[f.name]
        if f.kind in VARINT_KINDS:
            if f.rep:
                if val:
                    body = b"".join(varint(x & ((1 << 64) - 1)) for x in val)
                    out += _key(fn, 2) + varint(len(body)) + body
            elif val:
                out += _key(fn, 0) + varint(val & ((1 << 64) - 1))
            continue
        for x in (val if f.rep else [val]):
            if f.kind == "msg":
                if x is None:
                    continue
                body = encode(f.ref, x)
            elif f.kind == "raw":
                if x is None:
                    continue
                body = x
            else:
                body = x.encode("utf-8") if f.kind == "string" else x
                if not f.rep and not body:
                    continue  # proto3 default omitted
            out += _key(fn, 2) + varint(len(body)) + body
    return bytes(out)


# --------------------------------------------------------------------------------------
# Identifiers (§4.4), directory lookups (§7).

STATES = ("AGU BCN BCS CAM CHH CHP CMX COA COL DUR GRO GUA HID JAL MEX MIC MOR NAY NLE OAX "
          "PUE QUE ROO SIN SLP SON TAB TAM TLA VER YUC ZAC FED").split()
AGENCY_RE = re.compile(r"MX-(%s)-[A-Z0-9]{2,32}" % "|".join(STATES))
CASE_RE = re.compile(r"MX-[0-9]{4}-[0-9A-Z]{4,16}")

PURPOSE = {1: "SIGNING", 2: "ENCRYPTION", 3: "TLS", 4: "RECEIPT", 5: "CHECKPOINT"}
ROLE = {1: "STATE", 2: "FEDERAL", 3: "AUDITOR", 4: "GATEWAY"}
KEY_RETIRED, KEY_COMPROMISED = 2, 3
MSG_TYPE_CASE_TRANSFER = 2
OUTCOME_OPENED = 1
CHUNK = 1048576


def agency_ok(s):
    return AGENCY_RE.fullmatch(s) is not None


def find_agency(directory, agency_id):
    for a in directory["agencies"]:
        if a["id"] == agency_id:
            return a
    raise CheckFailed("agency %s is not in the directory" % agency_id)


def find_key(agency, purpose, kid):
    for k in agency["keys"]:
        if k["purpose"] == purpose and k["key_id"] == kid:
            return k
    raise CheckFailed("%s has no %s key with id %s" % (agency["id"], PURPOSE.get(purpose, purpose), kid.hex()))


def key_usable(k, t):
    """§7: not_before <= t < not_after, and not RETIRED/COMPROMISED with status_since <= t."""
    if not k["not_before"] <= t < k["not_after"]:
        return False
    if k["status"] in (KEY_RETIRED, KEY_COMPROMISED) and k["status_since"] <= t:
        return False
    return True


# --------------------------------------------------------------------------------------

def main(argv):
    if len(argv) != 2:
        print("usage: check_vectors.py tests/vectors/puente-v1.txt", file=sys.stderr)
        return 2
    class Vectors(dict):
        def __missing__(self, name):
            raise CheckFailed("vector %r is missing from the file" % name)

    class State(dict):
        def __missing__(self, name):
            raise CheckFailed("not checked: depends on an earlier check that failed (no %r)" % name)

    V = Vectors()  # the vectors, as text
    st = State()   # values later checks build on, set only by checks that passed so far

    def hx(name):
        return bytes.fromhex(V[name])

    @check("vectors: file read and parsed")
    def _():
        if _NACL_ERROR is not None:
            raise CheckFailed("PyNaCl is not importable: %s" % _NACL_ERROR)
        with open(argv[1], "r", encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                name, sep, value = line.partition(" = ")
                expect(sep, "line %d is not 'name = value'" % n)
                expect(name not in V, "line %d repeats %s" % (n, name))
                V[name] = value
        return "%d vectors" % len(V)

    # ---- §2 framing --------------------------------------------------------------------
    @check("frame.hello: frame header per §2 (length >= 1, <= 4096 before HELLO, type HELLO)")
    def _():
        f = hx("frame.hello")
        expect(len(f) >= 5, "frame shorter than 5 bytes")
        length = struct.unpack(">I", f[:4])[0]
        expect(length >= 1, "length 0 (PU_ERR_FRAME_EMPTY)")
        expect(length <= 4096, "length %d > PU_FRAME_MAX_HELLO" % length)
        expect_eq(len(f), 4 + length, "frame size vs length field")
        expect_eq(f[4], 1, "frame type")
        st["hello_body"] = f[5:]
        return "length %d, type 1, body %s" % (length, f[5:].hex())

    @check("frame.hello: body is a canonical Hello{version=1, directory_serial=7} (§2 example)")
    def _():
        h = decode("Hello", st["hello_body"])
        expect_eq(h["version"], 1, "Hello.version")
        expect_eq(h["directory_serial"], 7, "Hello.directory_serial")
        expect_eq(h["checkpoint"], "", "Hello.checkpoint")
        expect_eq(st["hello_body"], bytes.fromhex("08011007"), "body vs §2 example")
        return "version=1 directory_serial=7"

    # ---- §4 primitives -----------------------------------------------------------------
    @check("tla.signing.public_key: Ed25519 public key derived from tla.signing.seed")
    def _():
        vk = nacl.signing.SigningKey(hx("tla.signing.seed")).verify_key.encode()
        expect_eq(vk, hx("tla.signing.public_key"), "derived public key")
        st["tla_pk"] = vk

    @check("tla.signing.key_id: BLAKE2b-128[\"puente/1 keyid\"](u8(1) || public_key) (§4.2)")
    def _():
        pk = hx("tla.signing.public_key")
        kid = key_id(1, pk)
        expect_eq(kid, hx("tla.signing.key_id"), "key id (hashlib)")
        expect_eq(b2b_nacl(b"\x01" + pk, "puente/1 keyid", size=16), kid, "key id (libsodium)")
        return kid.hex()

    @check("sig_input.header(core,manifest): lp(\"puente/1 header\") || lp(\"core\") || lp(\"manifest\") (§4.3)")
    def _():
        expect_eq(signing_input("puente/1 header", b"core", b"manifest"),
                  hx("sig_input.header(core,manifest)"), "signing input")

    @check("sig.header(core,manifest): Ed25519 signature verifies with the TLA public key")
    def _():
        ed25519_verify(hx("tla.signing.public_key"), hx("sig_input.header(core,manifest)"),
                       hx("sig.header(core,manifest)"))

    @check("sig.header(core,manifest): equals a fresh deterministic signature with tla.signing.seed")
    def _():
        sm = nacl.signing.SigningKey(hx("tla.signing.seed")).sign(
            signing_input("puente/1 header", b"core", b"manifest"))
        expect_eq(sm.signature, hx("sig.header(core,manifest)"), "signature")

    @check("blake2b.chunk(\"chunk\"): BLAKE2b-256[\"puente/1 chunk\"](\"chunk\") (§4.5)")
    def _():
        h = b2b(b"chunk", "puente/1 chunk")
        expect_eq(h, hx("blake2b.chunk(\"chunk\")"), "chunk hash")
        expect_eq(b2b_nacl(b"chunk", "puente/1 chunk"), h, "chunk hash (libsodium)")

    @check("blake2b.commit.fields(core,manifest): BLAKE2b-256[\"puente/1 commit\"](lp(\"core\") || lp(\"manifest\"))")
    def _():
        h = b2b(lp("core") + lp("manifest"), "puente/1 commit")
        expect_eq(h, hx("blake2b.commit.fields(core,manifest)"), "commit hash")

    # ---- §7 directory ------------------------------------------------------------------
    @check("directory.signed: SignedDirectory decodes canonically (§3)")
    def _():
        st["sd"] = decode("SignedDirectory", hx("directory.signed"))
        return "directory %d bytes" % len(st["sd"]["directory"])

    @check("directory.signed: root_key_id = key_id(1, root.public_key) (§7, §4.2)")
    def _():
        expect_eq(st["sd"]["root_key_id"], key_id(1, hx("root.public_key")), "root_key_id")

    @check("directory.signed: root signature over signing_input(\"puente/1 directory\"; directory bytes)")
    def _():
        sd = st["sd"]
        ed25519_verify(hx("root.public_key"), signing_input("puente/1 directory", sd["directory"]),
                       sd["signature"])
        st["dir_bytes"] = sd["directory"]  # only a root-signed directory is trusted below

    @check("directory: Directory decodes canonically, version = 1")
    def _():
        expect_eq(st["sd"]["root_key_id"], key_id(1, hx("root.public_key")), "root_key_id")
        d = decode("Directory", st["dir_bytes"])
        expect_eq(d["version"], 1, "Directory.version")
        st["dir"] = d
        return "federation %r, serial %d" % (d["federation"], d["serial"])

    @check("directory: issued_at < expires_at <= issued_at + 2592000")
    def _():
        d = st["dir"]
        expect(d["issued_at"] < d["expires_at"], "issued_at >= expires_at")
        expect(d["expires_at"] <= d["issued_at"] + 2592000, "lifetime above 30 days")
        return "issued_at %d, expires_at %d" % (d["issued_at"], d["expires_at"])

    @check("directory: consistent content (ids, states, roles, statuses, key sizes and ids, validity, policies)")
    def _():
        d = st["dir"]
        expect(d["federation"] != "", "federation name empty")
        seen = set()
        for a in d["agencies"]:
            aid = a["id"]
            expect(agency_ok(aid), "malformed agency id %r" % aid)
            expect(aid not in seen, "duplicate agency id %s" % aid)
            seen.add(aid)
            expect_eq(a["state"], aid.split("-")[1], "%s state" % aid)
            expect(a["role"] != 0, "%s has no role" % aid)
            expect(a["status"] != 0, "%s has no status" % aid)
            kids = set()
            for k in a["keys"]:
                expect(k["purpose"] != 0, "%s key without purpose" % aid)
                expect(k["status"] != 0, "%s key without status" % aid)
                expect_eq(len(k["public_key"]), 32, "%s key size" % aid)
                expect_eq(k["key_id"], key_id(k["purpose"], k["public_key"]),
                          "%s %s key id" % (aid, PURPOSE[k["purpose"]]))
                expect(k["key_id"] not in kids, "%s repeats key id %s" % (aid, k["key_id"].hex()))
                kids.add(k["key_id"])
                expect(k["not_before"] < k["not_after"], "%s key not_before >= not_after" % aid)
        roles = [p["role"] for p in d["role_policies"]]
        expect(0 not in roles, "policy without role")
        # "one policy per role" read as AT MOST one: the vector has AUDITOR and GATEWAY
        # agencies and no policy for those roles (a role without a policy sends/receives nothing).
        expect(len(roles) == len(set(roles)), "more than one policy for a role")
        expect_eq(len(d["ca_cert_sha256"]), 32, "ca_cert_sha256 size")
        nkeys = sum(len(a["keys"]) for a in d["agencies"])
        return "%d agencies, %d keys, all key ids recomputed; policies for roles %s" % (
            len(d["agencies"]), nkeys, ",".join(ROLE.get(r, str(r)) for r in roles))

    @check("directory: valid at now (issued_at <= now + 300, now < expires_at)")
    def _():
        d, now = st["dir"], int(V["now"])
        expect(d["issued_at"] <= now + 300, "issued in the future (PU_ERR_DIR_NOT_YET_VALID)")
        expect(now < d["expires_at"], "expired (PU_ERR_DIR_EXPIRED)")
        return "now %d" % now

    @check("directory: agencies found")
    def _():
        parts = []
        for a in st["dir"]["agencies"]:
            parts.append("%s(%s; %s)" % (a["id"], ROLE.get(a["role"], a["role"]),
                                         ",".join(PURPOSE.get(k["purpose"], str(k["purpose"])) for k in a["keys"])))
        expect(parts, "no agencies")
        return " ".join(parts)

    @check("directory: MX-TLA-PPNNA lists tla.signing.public_key under tla.signing.key_id")
    def _():
        k = find_key(find_agency(st["dir"], "MX-TLA-PPNNA"), 1, hx("tla.signing.key_id"))
        expect_eq(k["public_key"], hx("tla.signing.public_key"), "TLA signing key")

    # ---- §5 sealed message: decode and check as gateway steps 2 and 4 -------------------
    @check("nle.encryption: public key = X25519(secret_key, 9); key_id = §4.2 purpose 2; listed in the directory")
    def _():
        sk = hx("nle.encryption.secret_key")
        pk = nb.crypto_scalarmult_base(sk)
        expect_eq(pk, hx("nle.encryption.public_key"), "derived public key")
        expect_eq(key_id(2, pk), hx("nle.encryption.key_id"), "key id")
        k = find_key(find_agency(st["dir"], "MX-NLE-PPNNA"), 2, key_id(2, pk))
        expect_eq(k["public_key"], pk, "directory key")
        st["nle_sk"], st["nle_pk"], st["nle_kid"] = sk, pk, key_id(2, pk)

    @check("message.signed_header: SignedHeader, HeaderCore, Manifest decode canonically (§3)")
    def _():
        sh_bytes = hx("message.signed_header")
        expect(len(sh_bytes) <= 163840, "SignedHeader above 163840 bytes")
        sh = decode("SignedHeader", sh_bytes)
        st["sh"] = sh
        st["core"] = decode("HeaderCore", sh["core"])
        st["manifest"] = decode("Manifest", sh["manifest"])
        c = st["core"]
        return "msg_id %s, %s -> %s, type %d, case %s, %d bytes in %d chunk(s)" % (
            c["msg_id"].hex(), c["sender"], ",".join(r["agency_id"] for r in c["recipients"]),
            c["type"], c["case_id"], c["content_length"], c["chunk_count"])

    @check("message header: structure of §5.4 (version, field sizes, ids, recipients, chunk count)")
    def _():
        c, m = st["core"], st["manifest"]
        expect_eq(c["version"], 1, "version (PU_ERR_VERSION)")
        expect_eq(len(c["msg_id"]), 16, "msg_id size")
        expect_eq(len(c["sender_key_id"]), 16, "sender_key_id size")
        expect_eq(len(c["stream_header"]), 24, "stream_header size")
        expect_eq(len(c["key_commitment"]), 32, "key_commitment size")
        expect(len(c["in_reply_to"]) in (0, 16), "in_reply_to size")
        expect(c["type"] != 0, "type unspecified")
        expect(c["created_at"] > 0, "created_at <= 0")
        expect(c["expires_at"] > c["created_at"], "expires_at <= created_at")
        expect(c["respond_by"] >= 0, "respond_by < 0")
        expect(agency_ok(c["sender"]), "malformed sender %r" % c["sender"])
        expect(CASE_RE.fullmatch(c["case_id"]) is not None, "malformed case id %r" % c["case_id"])
        rs = c["recipients"]
        expect(1 <= len(rs) <= 16, "%d recipients" % len(rs))
        ids = [r["agency_id"] for r in rs]
        expect(len(set(ids)) == len(ids), "duplicate recipient")
        for r in rs:
            expect(agency_ok(r["agency_id"]), "malformed recipient %r" % r["agency_id"])
            expect_eq(len(r["key_id"]), 16, "stanza key_id size")
            expect_eq(len(r["ephemeral_public"]), 32, "stanza ephemeral_public size")
            expect_eq(len(r["wrapped_key"]), 48, "stanza wrapped_key size")
        expect(c["content_length"] <= 4096 * CHUNK, "content_length too large")
        expect_eq(c["chunk_count"], -(-c["content_length"] // CHUNK), "chunk_count = ceil(content_length / 1 MiB)")
        expect_eq(len(m["chunk_hashes"]), c["chunk_count"], "manifest entries")
        for h in m["chunk_hashes"]:
            expect_eq(len(h), 32, "chunk hash size")

    @check("message header: signature by the sender's signing key from the verified directory (§5.6 step 4)")
    def _():
        c, sh = st["core"], st["sh"]
        k = find_key(find_agency(st["dir"], c["sender"]), 1, c["sender_key_id"])
        ed25519_verify(k["public_key"], signing_input("puente/1 header", sh["core"], sh["manifest"]),
                       sh["signature"])
        st["sender_key"] = k
        return "%s key %s" % (c["sender"], c["sender_key_id"].hex())

    @check("message header: sender key usable at created_at (recipient step 2)")
    def _():
        expect(key_usable(st["sender_key"], st["core"]["created_at"]), "sender key not usable at created_at")

    @check("message header: gateway time rules at now (lifetime <= 604800, created_at <= now + 300, now < expires_at)")
    def _():
        c, now = st["core"], int(V["now"])
        expect(c["expires_at"] - c["created_at"] <= 604800, "lifetime above 7 days")
        expect(c["created_at"] <= now + 300, "created in the future")
        expect(now < c["expires_at"], "expired")
        return "created_at %d, expires_at %d" % (c["created_at"], c["expires_at"])

    @check("message.core_hash: BLAKE2b-256[\"puente/1 core\"](core)")
    def _():
        st["core_hash"] = b2b(st["sh"]["core"], "puente/1 core")
        expect_eq(st["core_hash"], hx("message.core_hash"), "core hash")

    @check("message.header_hash: BLAKE2b-256(signing_input(\"puente/1 header\"; core, manifest))")
    def _():
        sh = st["sh"]
        st["header_hash"] = b2b(signing_input("puente/1 header", sh["core"], sh["manifest"]))
        expect_eq(st["header_hash"], hx("message.header_hash"), "header hash")

    # ---- §5.6 recipient steps 3-7 as MX-NLE-PPNNA --------------------------------------
    @check("recipient: MX-NLE-PPNNA is listed and its stanza names its encryption key (steps 3-4)")
    def _():
        for r in st["core"]["recipients"]:
            if r["agency_id"] == "MX-NLE-PPNNA":
                break
        else:
            raise CheckFailed("MX-NLE-PPNNA is not a recipient (PU_ERR_NOT_RECIPIENT)")
        expect_eq(r["key_id"], st["nle_kid"], "stanza key id (PU_ERR_STANZA_KEY)")
        find_key(find_agency(st["dir"], "MX-NLE-PPNNA"), 2, r["key_id"])
        st["stanza"] = r

    @check("recipient: X25519 + HKDF-SHA256 wrap key + XChaCha20-Poly1305 unwrap of K (§5.3)")
    def _():
        r, c = st["stanza"], st["core"]
        shared = x25519(st["nle_sk"], r["ephemeral_public"])
        info = (lp("puente/1 wrap") + lp(c["msg_id"]) + lp(c["sender"]) + lp(r["agency_id"])
                + lp(r["key_id"]))
        wrap_key = hkdf_sha256(shared, r["ephemeral_public"] + st["nle_pk"], info)
        try:
            k = nb.crypto_aead_xchacha20poly1305_ietf_decrypt(r["wrapped_key"], b"", b"\0" * 24, wrap_key)
        except nacl.exceptions.CryptoError:
            raise CheckFailed("wrapped key does not open (PU_ERR_UNWRAP)")
        expect_eq(len(k), 32, "content key size")
        st["K"] = k

    @check("recipient: key commitment BLAKE2b-256[\"puente/1 commit\"](lp(K) || lp(stream_header) || lp(msg_id)) (§5.2)")
    def _():
        c = st["core"]
        kc = b2b(lp(st["K"]) + lp(c["stream_header"]) + lp(c["msg_id"]), "puente/1 commit")
        expect(hmac.compare_digest(kc, c["key_commitment"]), "commitment mismatch (PU_ERR_COMMITMENT)")

    @check("recipient: every chunk has the size of §5.5 and the manifest's BLAKE2b-256[\"puente/1 chunk\"] hash")
    def _():
        c = st["core"]
        n = c["chunk_count"]
        expect_eq(int(V["message.chunk_count"]), n, "message.chunk_count vs header")
        chunks = [hx("message.chunk.%d" % i) for i in range(n)]
        expect("message.chunk.%d" % n not in V, "more chunk vectors than chunk_count (PU_ERR_CHUNK_EXTRA)")
        for i, ch in enumerate(chunks):
            piece = CHUNK if i < n - 1 else c["content_length"] - (n - 1) * CHUNK
            expect_eq(len(ch), piece + 17, "chunk %d size (PU_ERR_CHUNK_SIZE)" % i)
            expect_eq(b2b(ch, "puente/1 chunk"), st["manifest"]["chunk_hashes"][i], "chunk %d hash" % i)
        st["chunks"] = chunks
        return "%d chunk(s), %s bytes" % (n, "+".join(str(len(x)) for x in chunks))

    @check("recipient: secretstream pull with AD core_hash || u32be(i); tags MESSAGE..., FINAL last (step 5)")
    def _():
        state = nb.crypto_secretstream_xchacha20poly1305_state()
        nb.crypto_secretstream_xchacha20poly1305_init_pull(state, st["core"]["stream_header"], st["K"])
        pt, n = b"", len(st["chunks"])
        for i, ch in enumerate(st["chunks"]):
            try:
                m, tag = nb.crypto_secretstream_xchacha20poly1305_pull(state, ch, st["core_hash"] + u32be(i))
            except nacl.exceptions.CryptoError:
                raise CheckFailed("chunk %d fails authentication (PU_ERR_CHUNK_DECRYPT)" % i)
            want = (nb.crypto_secretstream_xchacha20poly1305_TAG_FINAL if i == n - 1
                    else nb.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE)
            expect_eq(tag, want, "chunk %d tag (PU_ERR_CHUNK_TAG)" % i)
            pt += m
        expect_eq(len(pt), st["core"]["content_length"], "plaintext length")
        st["plaintext"] = pt
        return "%d plaintext bytes" % len(pt)

    @check("recipient: plaintext layout of §5.5 and the case message (type, case id, payload 100 + type, sizes)")
    def _():
        pt, c = st["plaintext"], st["core"]
        expect(len(pt) >= 4 + 64, "plaintext too short")
        n = struct.unpack(">I", pt[:4])[0]
        expect(n <= 4194304, "case message above 4194304 bytes")
        expect(4 + n + 64 <= len(pt), "case message length runs past the content")
        cm_bytes = pt[4:4 + n]
        cm = decode("CaseMessage", cm_bytes, ctx="case")
        expect_eq(cm["type"], c["type"], "case message type vs header (PU_ERR_CASE_MISMATCH)")
        expect_eq(cm["case_id"], c["case_id"], "case id vs header (PU_ERR_CASE_MISMATCH)")
        present = [fn for fn in range(101, 120) if cm["payload_%d" % fn] is not None]
        expect_eq(present, [100 + c["type"]], "payload field numbers (PU_ERR_CASE_TYPE)")
        total = 4 + n + sum(a["size"] for a in cm["attachments"]) + 64
        expect_eq(total, c["content_length"], "4 + case message + attachments + 64 (PU_ERR_CONTENT_FORMAT)")
        st["cm_bytes"], st["cm"] = cm_bytes, cm
        return "type %d, case %s, %d attachment(s), payload field %d (%d bytes)" % (
            cm["type"], cm["case_id"], len(cm["attachments"]), present[0], len(cm["payload_%d" % present[0]]))

    @check("message.case_message: decrypted case message bytes equal the vector")
    def _():
        expect_eq(st["cm_bytes"], hx("message.case_message"), "case message")

    @check("recipient: attachment hashes BLAKE2b-256[\"puente/1 attach\"](bytes) match the list")
    def _():
        pt, off, out = st["plaintext"], 4 + len(st["cm_bytes"]), []
        for i, a in enumerate(st["cm"]["attachments"]):
            data = pt[off:off + a["size"]]
            expect_eq(len(data), a["size"], "attachment %d size" % i)
            expect_eq(len(a["blake2b"]), 32, "attachment %d hash size" % i)
            expect_eq(b2b(data, "puente/1 attach"), a["blake2b"], "attachment %d hash (PU_ERR_ATTACHMENT_HASH)" % i)
            off += a["size"]
            out.append("%r %s %d bytes" % (a["name"], a["media_type"], a["size"]))
        expect_eq(off, len(pt) - 64, "end of attachments vs start of the content signature")
        return "; ".join(out)

    @check("recipient: content signature over signing_input(\"puente/1 content\"; core_hash, content_digest) (step 7)")
    def _():
        pt = st["plaintext"]
        digest = b2b(pt[:-64], "puente/1 content")
        st["content_digest"] = digest
        ed25519_verify(st["sender_key"]["public_key"],
                       signing_input("puente/1 content", st["core_hash"], digest), pt[-64:])

    @check("message.receipt_mac: BLAKE2b-256[\"puente/1 mac\", HKDF(K, msg_id, lp(\"puente/1 receipt-mac\"))](content_digest) (§6.2)")
    def _():
        mac_key = hkdf_sha256(st["K"], st["core"]["msg_id"], lp("puente/1 receipt-mac"))
        mac = b2b(st["content_digest"], "puente/1 mac", key=mac_key)
        expect_eq(b2b_nacl(st["content_digest"], "puente/1 mac", key=mac_key), mac, "MAC (libsodium)")
        if mac != hx("message.receipt_mac"):
            old = b2b(st["plaintext"], "puente/1 mac", key=mac_key)
            hint = " (the vector is the MAC of the whole plaintext, the pre-change rule)" \
                if old == hx("message.receipt_mac") else ""
            raise CheckFailed("receipt MAC: got %s, expected %s%s" % (mac.hex(), V["message.receipt_mac"], hint))
        st["mac"] = mac

    # ---- §6 recipient receipt ----------------------------------------------------------
    @check("receipt.recipient.signed: Signed and RecipientReceipt decode canonically (§3)")
    def _():
        s = decode("Signed", hx("receipt.recipient.signed"))
        st["rs"], st["rr"] = s, decode("RecipientReceipt", s["body"])
        return "recipient %s, at %d" % (st["rr"]["recipient"], st["rr"]["at"])

    @check("receipt.recipient.signed: signer key is a SIGNING key of the recipient, = nle.signing.public_key, usable at `at`")
    def _():
        rr, s = st["rr"], st["rs"]
        k = find_key(find_agency(st["dir"], rr["recipient"]), 1, s["key_id"])
        expect_eq(k["public_key"], hx("nle.signing.public_key"), "recipient signing key")
        expect_eq(s["key_id"], key_id(1, hx("nle.signing.public_key")), "key id")
        expect(key_usable(k, rr["at"]), "key not usable at `at`")
        st["rr_key"] = k

    @check("receipt.recipient.signed: signature over signing_input(\"puente/1 recipient-receipt\"; body)")
    def _():
        s = st["rs"]
        ed25519_verify(st["rr_key"]["public_key"], signing_input("puente/1 recipient-receipt", s["body"]),
                       s["signature"])

    @check("receipt.recipient.signed: recipient listed in the header, msg_id and header_hash are the message's")
    def _():
        rr = st["rr"]
        expect(rr["recipient"] in [r["agency_id"] for r in st["core"]["recipients"]], "recipient not listed")
        expect_eq(rr["recipient"], "MX-NLE-PPNNA", "recipient")
        expect_eq(rr["msg_id"], st["core"]["msg_id"], "msg_id (PU_ERR_RECEIPT_MISMATCH)")
        expect_eq(rr["header_hash"], hx("message.header_hash"), "header_hash (PU_ERR_RECEIPT_MISMATCH)")

    @check("receipt.recipient.signed: outcome OPENED with the 32-byte plaintext MAC we computed")
    def _():
        rr = st["rr"]
        expect_eq(rr["outcome"], OUTCOME_OPENED, "outcome")
        expect_eq(len(rr["plaintext_mac"]), 32, "plaintext_mac size (PU_ERR_RECEIPT_FIELD)")
        expect_eq(rr["plaintext_mac"], st["mac"], "plaintext_mac (PU_ERR_RECEIPT_MAC)")

    print("%d passed, %d failed" % (PASSED, FAILED))
    return 0 if FAILED == 0 else 1


if __name__ == "__main__":
    try:
        rc = main(sys.argv)
        sys.stdout.flush()
    except BrokenPipeError:  # output piped into a reader that stopped early
        sys.stderr.close()
        rc = 1
    sys.exit(rc)
