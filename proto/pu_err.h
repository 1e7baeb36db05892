/*
 * pu_err.h - every failure in Puente has one code, one stable name and one message.
 *
 * Codes are negative and never renumbered: they appear in ERROR frames (by name),
 * in audit entries and in logs. Add new codes at the end of their group.
 */
#ifndef PU_ERR_H
#define PU_ERR_H

#define PU_ERRORS(X) \
	X(PU_OK,                      0, "success") \
	/* generic */ \
	X(PU_ERR_NOMEM,              -1, "out of memory") \
	X(PU_ERR_ARG,                -2, "invalid argument") \
	X(PU_ERR_INTERNAL,           -3, "internal error") \
	X(PU_ERR_CRYPTO,             -4, "cryptographic library failure") \
	X(PU_ERR_IO,                 -5, "input/output error") \
	X(PU_ERR_AGAIN,              -6, "more input is needed") \
	/* bounded buffers and cursors */ \
	X(PU_ERR_TRUNCATED,         -10, "input ends before the declared data") \
	X(PU_ERR_TOO_LARGE,         -11, "a length exceeds its limit") \
	X(PU_ERR_TRAILING,          -12, "unexpected bytes after the end of the data") \
	/* frames */ \
	X(PU_ERR_FRAME_EMPTY,       -20, "frame length is zero") \
	X(PU_ERR_FRAME_TOO_LARGE,   -21, "frame length exceeds the limit for this session state") \
	X(PU_ERR_FRAME_TYPE,        -22, "unknown frame type") \
	X(PU_ERR_FRAME_UNEXPECTED,  -23, "frame type not allowed in this session state") \
	/* protobuf */ \
	X(PU_ERR_PB_DECODE,         -30, "malformed protobuf") \
	X(PU_ERR_PB_UNKNOWN_FIELD,  -31, "protobuf has an unknown field") \
	X(PU_ERR_PB_NONCANONICAL,   -32, "protobuf is not canonically encoded") \
	X(PU_ERR_PB_ENUM,           -33, "protobuf enum value is not defined") \
	X(PU_ERR_PB_UTF8,           -34, "protobuf string is not valid UTF-8") \
	X(PU_ERR_PB_LIMIT,          -35, "protobuf field exceeds its size or count limit") \
	X(PU_ERR_PB_BUDGET,         -36, "protobuf decoding exceeds its memory budget") \
	/* sealed message header */ \
	X(PU_ERR_VERSION,           -40, "unsupported protocol version") \
	X(PU_ERR_HEADER_FIELD,      -41, "header field missing or of the wrong size") \
	X(PU_ERR_SIGNATURE,         -42, "signature does not verify") \
	X(PU_ERR_UNKNOWN_SENDER,    -43, "sender is not in the directory") \
	X(PU_ERR_UNKNOWN_KEY,       -44, "key id is not listed for that agency and purpose") \
	X(PU_ERR_KEY_NOT_YET_VALID, -45, "key is not yet valid") \
	X(PU_ERR_KEY_EXPIRED,       -46, "key has expired") \
	X(PU_ERR_KEY_RETIRED,       -47, "key was retired before it was used") \
	X(PU_ERR_KEY_COMPROMISED,   -48, "key is marked compromised") \
	X(PU_ERR_AGENCY_SUSPENDED,  -49, "agency is suspended") \
	X(PU_ERR_AGENCY_REVOKED,    -50, "agency is revoked") \
	X(PU_ERR_AGENCY_ID,         -51, "agency id is not of the form MX-<STATE|FED>-<UNIT>") \
	X(PU_ERR_CASE_ID,           -52, "case id is missing or malformed") \
	/* recipients and key wrapping */ \
	X(PU_ERR_NO_RECIPIENTS,     -60, "message has no recipients") \
	X(PU_ERR_TOO_MANY_RECIPIENTS, -61, "message has more than 16 recipients") \
	X(PU_ERR_RECIPIENT_DUPLICATE, -62, "recipient listed twice") \
	X(PU_ERR_RECIPIENT_UNKNOWN, -63, "recipient is not in the directory") \
	X(PU_ERR_STANZA_KEY,        -64, "stanza key is not an encryption key of the recipient") \
	X(PU_ERR_LOW_ORDER_KEY,     -65, "X25519 key is low-order (shared secret is zero)") \
	X(PU_ERR_UNWRAP,            -66, "wrapped content key does not open") \
	X(PU_ERR_COMMITMENT,        -67, "content key does not match the key commitment") \
	X(PU_ERR_NOT_RECIPIENT,     -68, "this agency is not a recipient of the message") \
	/* chunk stream */ \
	X(PU_ERR_CHUNK_COUNT,       -70, "chunk count does not match the content length") \
	X(PU_ERR_CHUNK_ORDER,       -71, "chunk out of order, duplicated or missing") \
	X(PU_ERR_CHUNK_SIZE,        -72, "chunk has the wrong size") \
	X(PU_ERR_CHUNK_HASH,        -73, "chunk hash does not match the manifest") \
	X(PU_ERR_CHUNK_EXTRA,       -74, "chunk after the last declared chunk") \
	X(PU_ERR_CHUNK_DECRYPT,     -75, "chunk fails authentication") \
	X(PU_ERR_CHUNK_TAG,         -76, "chunk carries the wrong stream tag") \
	X(PU_ERR_STREAM_INCOMPLETE, -77, "stream ended before its final chunk") \
	X(PU_ERR_CONTENT_FORMAT,    -78, "decrypted content does not have the declared layout") \
	X(PU_ERR_CONTENT_SIGNATURE, -79, "inner content signature does not verify") \
	X(PU_ERR_ATTACHMENT_HASH,   -80, "attachment does not match its listed hash") \
	X(PU_ERR_CASE_TYPE,         -81, "case payload does not match the message type") \
	X(PU_ERR_CASE_MISMATCH,     -82, "case message disagrees with its header") \
	X(PU_ERR_CONTENT_LENGTH,    -83, "content written differs from the declared length") \
	X(PU_ERR_CASE_JSON,         -84, "case file JSON is malformed or breaks a schema rule") \
	/* time */ \
	X(PU_ERR_FUTURE,            -90, "message is dated more than 300 s in the future") \
	X(PU_ERR_EXPIRED,           -91, "message has expired") \
	X(PU_ERR_EXPIRY_TOO_LONG,   -92, "message expires more than 7 days after creation") \
	/* directory */ \
	X(PU_ERR_DIR_SIGNATURE,    -100, "directory signature does not verify with the federation root") \
	X(PU_ERR_DIR_OLDER,        -101, "directory is not newer than the one held") \
	X(PU_ERR_DIR_EXPIRED,      -102, "directory has expired") \
	X(PU_ERR_DIR_INVALID,      -103, "directory content is inconsistent") \
	X(PU_ERR_DIR_NOT_YET_VALID, -104, "directory is issued in the future") \
	/* receipts */ \
	X(PU_ERR_RECEIPT_MISMATCH, -110, "receipt is for another message or header") \
	X(PU_ERR_RECEIPT_MAC,      -111, "receipt MAC of the content digest does not match what was sent") \
	X(PU_ERR_RECEIPT_SIGNER,   -112, "receipt is signed by an agency or key not allowed to sign it") \
	X(PU_ERR_RECEIPT_FIELD,    -113, "receipt field missing or of the wrong size") \
	/* files and keys */ \
	X(PU_ERR_EXISTS,           -120, "file already exists (never overwritten)") \
	X(PU_ERR_NOT_FOUND,        -121, "no such file or directory") \
	X(PU_ERR_FILE_MODE,        -122, "secret file is readable or writable by group or others") \
	X(PU_ERR_PASSPHRASE,       -123, "wrong passphrase, or the key file is corrupted") \
	X(PU_ERR_KEY_FILE,         -124, "key file is malformed or of the wrong kind") \
	X(PU_ERR_AGENCY_EXISTS,    -125, "agency is already in the directory") \
	X(PU_ERR_AGENCY_UNKNOWN,   -126, "agency is not in the directory") \
	X(PU_ERR_AGENCY_FINAL,     -127, "agency is revoked, which is final") \
	X(PU_ERR_X509,             -128, "X.509 certificate operation failed") \
	X(PU_ERR_USAGE,            -129, "invalid command line") \
	/* gateway */ \
	X(PU_ERR_CONFLICT,         -140, "another message with this msg_id is already stored") \
	X(PU_ERR_QUOTA,            -141, "the sender's queued-bytes quota is full") \
	X(PU_ERR_NOT_QUEUED,       -142, "no such message queued for this agency") \
	X(PU_ERR_NOT_DELIVERED,    -143, "the message was never delivered to this recipient") \
	X(PU_ERR_STORE,            -144, "the gateway's database failed; nothing was stored") \
	X(PU_ERR_POLICY,           -145, "message not allowed by the directory's policy") \
	X(PU_ERR_NOT_SENDER,       -146, "the header's sender is not this session's agency") \
	X(PU_ERR_TLS_IDENTITY,     -147, "the TLS certificate's key is not pinned for an active agency") \
	X(PU_ERR_BUSY,             -148, "the gateway is busy for this agency (messages in flight, sessions, a fetch); retry later") \
	X(PU_ERR_SHUTTING_DOWN,    -149, "the gateway is shutting down; retry later") \
	/* Merkle proofs (audit log) */ \
	X(PU_ERR_PROOF_INDEX,      -150, "leaf index is not below the tree size") \
	X(PU_ERR_PROOF_LENGTH,     -151, "proof length is not the one its index and tree sizes require") \
	X(PU_ERR_PROOF_ROOT,       -152, "proof does not lead to the expected root hash") \
	X(PU_ERR_PROOF_SHRINK,     -153, "the later tree is smaller than the earlier one") \
	X(PU_ERR_PROOF_EMPTY_TREE, -154, "consistency with an empty tree proves nothing") \
	/* signed notes and checkpoints */ \
	X(PU_ERR_NOTE_SIZE,        -160, "signed note is larger than 4096 bytes") \
	X(PU_ERR_NOTE_TEXT,        -161, "signed note is not UTF-8, or has a control character besides newline") \
	X(PU_ERR_NOTE_FORMAT,      -162, "signed note lacks a blank line and signature lines after its text") \
	X(PU_ERR_NOTE_ORIGIN,      -163, "checkpoint origin is empty or not a single line") \
	X(PU_ERR_NOTE_TREE_SIZE,   -164, "checkpoint tree size is not canonical decimal below 2^64") \
	X(PU_ERR_NOTE_ROOT,        -165, "checkpoint root hash is not 32 bytes of padded base64") \
	X(PU_ERR_NOTE_EXTENSION,   -166, "checkpoint has an empty extension line") \
	X(PU_ERR_NOTE_SIG_LINE,    -167, "signature line is not: em dash, space, key name, space, base64") \
	X(PU_ERR_NOTE_KEY_NAME,    -168, "key name is empty or holds a space or a plus sign") \
	X(PU_ERR_NOTE_SIG_BASE64,  -169, "signature is not padded base64 of a key id and signature bytes") \
	X(PU_ERR_NOTE_TOO_MANY_SIGS, -170, "signed note has more than 100 signature lines") \
	X(PU_ERR_NOTE_UNSIGNED,    -171, "signed note has no signature by the expected key") \
	X(PU_ERR_NOTE_SIGNATURE,   -172, "signature by the expected key does not verify") \
	X(PU_ERR_NOTE_TIMESTAMP,   -173, "cosignature timestamp is over 2^63-1") \
	X(PU_ERR_NOTE_FORK,        -174, "two checkpoints of one log differ for the same tree size") \
	X(PU_ERR_NOTE_OTHER_LOG,   -175, "checkpoints come from logs of different origins") \
	/* sessions */ \
	X(PU_ERR_DEADLINE,         -180, "the session missed its deadline (handshake, HELLO or idle)") \
	/* the gateway's storage */ \
	X(PU_ERR_STORE_FULL,       -183, "the gateway's storage is full; nothing was stored, retry later") \
	X(PU_ERR_STORE_READONLY,   -184, "the gateway's database or data folder is read-only") \
	X(PU_ERR_STORE_SCHEMA,     -185, "the gateway's database has the layout of another version of puente-gateway") \
	/* the client (libpuente-client) */ \
	X(PU_ERR_UNAVAILABLE,      -190, "the gateway cannot be reached or did not answer in time; retry later") \
	X(PU_ERR_GATEWAY_IDENTITY, -191, "the gateway's certificate is not pinned for a gateway in the directory") \
	X(PU_ERR_PROTOCOL,         -192, "the gateway answered outside the session protocol") \
	X(PU_ERR_CONFIG,           -193, "the agency folder or its agency.conf is incomplete or invalid") \
	X(PU_ERR_UNKNOWN_MESSAGE,  -194, "no such message in this agency's local records") \
	X(PU_ERR_LOCAL_DB,         -195, "the local database client.db failed") \
	/* the audit log: the gateway's tables, auditors' queries and the verifier */ \
	X(PU_ERR_AUDIT_STATE,      -210, "the audit tables do not match the newest signed checkpoint") \
	X(PU_ERR_AUDIT_ROLE,       -211, "audit queries are answered to auditors only") \
	X(PU_ERR_AUDIT_QUERY,      -212, "audit query needs one filter at most and a limit of 1..1000") \
	X(PU_ERR_AUDIT_GAP,        -213, "audit entries are missing: leaf indexes are not consecutive") \
	X(PU_ERR_AUDIT_LEAF,       -214, "audit entries do not hash to the root their checkpoint signs") \
	X(PU_ERR_AUDIT_CHAIN,      -215, "a case's chain of audit entries is broken") \
	X(PU_ERR_AUDIT_ROLLBACK,   -216, "the log is behind a checkpoint already trusted") \
	X(PU_ERR_AUDIT_EXPORT,     -217, "audit export file is malformed") \
	X(PU_ERR_NOT_WITNESS,      -218, "this agency is not a witness in the directory") \
	X(PU_ERR_COSIGN_CHECKPOINT, -219, "the cosigned checkpoint is not one this gateway signed") \
	X(PU_ERR_WITNESS_STATE,    -220, "the witness's state file is damaged")

enum pu_err {
#define PU_ERR_ENUM(name, code, text) name = code,
	PU_ERRORS(PU_ERR_ENUM)
#undef PU_ERR_ENUM
};

/* Stable name, e.g. "PU_ERR_SIGNATURE"; "PU_ERR_UNKNOWN" for a code not in the table. */
const char *pu_err_name(int code);
/* Human message for logs and the CLI; never contains data from the input. */
const char *pu_err_message(int code);
/* The code for a stable name, or PU_ERR_INTERNAL when the name is unknown. */
int pu_err_from_name(const char *name);
/* The sysexits(3) status a command exits with for this code (64 usage, 65 data, ...). */
int pu_err_exit_code(int code);

#endif
