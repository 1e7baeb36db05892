/* store.c - SQLite queue and audit leaves behind a writer and a reader thread; spool files
 * behind a hasher and a spooler. */
#define _GNU_SOURCE	/* sync_file_range */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <sodium.h>

#include "audit.h"
#include "crypto.h"
#include "log.h"
#include "pb.h"
#include "pu_err.h"
#include "receipt.h"
#include "db.h"
#include "store.h"
#include "walbuf.h"

/* Message states. */
#define MSG_QUEUED 0
#define MSG_DONE 1
/* Delivery states. */
#define DLV_QUEUED 0
#define DLV_DELIVERED 1
#define DLV_RECEIPTED 2
#define DLV_HELD 3	/* international adoption: waits for the federal review */
#define DLV_EXPIRED 4	/* the message expired before this recipient receipted */
/* Message states beyond QUEUED and DONE. */
#define MSG_EXPIRED 2

struct queue {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct store_req *head, *tail;
	int stopping;
};

enum worker_role { WORKER_WRITER, WORKER_READER, WORKER_HASHER, WORKER_SPOOL };

struct worker {
	struct store *store;
	pthread_t thread;
	struct queue q;
	struct db db;			/* none for the hasher and the spooler */
	enum worker_role role;
	int running;			/* its thread was started and not yet joined */
};

struct store {
	char dir[2048];
	char spool[2100];
	struct worker writer, reader;
	/* A large upload's chunks pass the hasher, then the spooler: one hashes a chunk while
	 * the other writes the one before. Both keep the order posted. */
	struct worker hasher, spooler;
	struct store_signer signer;
	struct audit_log audit;		/* the writer thread's */
	struct store_limits lim;
	uv_async_t async;
	pthread_mutex_t done_mu;
	struct store_req *done_head, *done_tail;
	store_done_fn done;
	void *done_arg;
	uint64_t commits, messages, leaves;	/* updated with __atomic builtins */
	int wal_frames;				/* the writer's: frames in the WAL */
	int wal_asked_at;			/* the writer's: wal_frames when it last asked the
						 * reader to copy them, 0 when it did not */
	int wal_copied;				/* the frames the reader has copied when the
						 * writer asked, -1 until it has (__atomic) */
	int closing;				/* loop thread only */
	int lock_fd;				/* flock on data_dir/lock: one gateway per folder */
	int db_fd;				/* puente.db, read-only: to start its writeback */
};

static const char *const schema =
	/*
	 * Rows in arrival order (seq): a message and its overflow pages are appended, and a
	 * lookup by msg_id goes through the small index, not a random page of ciphertext.
	 * The small columns come first, so reading them does not walk the overflow pages of
	 * header and body. The header's hash needs no index: the msg_id is inside the header.
	 */
	"CREATE TABLE IF NOT EXISTS messages ("
	"  seq INTEGER PRIMARY KEY,"
	"  msg_id BLOB NOT NULL UNIQUE,"
	"  header_hash BLOB NOT NULL,"
	"  sender TEXT NOT NULL, type INTEGER NOT NULL, adoption_scope INTEGER NOT NULL,"
	"  case_id TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
	"  respond_by INTEGER NOT NULL, in_reply_to BLOB,"
	"  content_length INTEGER NOT NULL, chunk_count INTEGER NOT NULL,"
	"  accepted_at INTEGER NOT NULL, audit_index INTEGER NOT NULL,"
	"  directory_serial INTEGER NOT NULL,"
	"  state INTEGER NOT NULL,"	/* 0 queued, 1 every recipient answered, 2 expired */
	"  purged INTEGER NOT NULL DEFAULT 0,"
	"  header BLOB NOT NULL, body BLOB);"	/* body: the one chunk of a small message */
	/*
	 * seq is the message's: a recipient's inbox is read in arrival order straight from
	 * deliveries_inbox, LIMIT rows at a time, however long its backlog (no sort of it).
	 */
	"CREATE TABLE IF NOT EXISTS deliveries ("
	"  msg_id BLOB NOT NULL REFERENCES messages(msg_id),"
	"  recipient TEXT NOT NULL, state INTEGER NOT NULL, outcome INTEGER NOT NULL DEFAULT 0,"
	"  receipt BLOB, updated_at INTEGER NOT NULL, seq INTEGER NOT NULL,"
	"  PRIMARY KEY (msg_id, recipient)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS deliveries_inbox ON deliveries(recipient, seq) WHERE state < 2;"
	/* Queued ciphertext per sender, kept current so the quota check reads one row. */
	"CREATE TABLE IF NOT EXISTS quota (sender TEXT PRIMARY KEY, queued INTEGER NOT NULL) "
	"WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS notices ("
	"  msg_id BLOB PRIMARY KEY REFERENCES messages(msg_id),"
	"  sender TEXT NOT NULL, notice BLOB NOT NULL, sent INTEGER NOT NULL DEFAULT 0"
	") WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS messages_by_expiry ON messages(state, expires_at);"
	"CREATE INDEX IF NOT EXISTS messages_by_reply ON messages(in_reply_to) "
	"  WHERE in_reply_to IS NOT NULL;"
	"CREATE INDEX IF NOT EXISTS messages_by_respond_by ON messages(respond_by) WHERE respond_by > 0;";

static int64_t
now_s(void)
{
	return (int64_t)time(NULL);
}

static void
spool_path(const struct store *s, const uint8_t *msg_id, const char *suffix, char *out,
    size_t n)
{
	char hex[PU_MSG_ID_LEN * 2 + 1];

	sodium_bin2hex(hex, sizeof(hex), msg_id, PU_MSG_ID_LEN);
	snprintf(out, n, "%s/%s.%s", s->spool, hex, suffix);
}

struct store_req *
store_req_new(enum store_kind kind, uint64_t session, uint64_t tag)
{
	struct store_req *r = calloc(1, sizeof(*r));

	if (r != NULL) {
		r->kind = kind;
		r->session = session;
		r->tag = tag;
		/* Room for a usual receipt, so that the writer need not allocate (checkpoint). */
		if (kind == STORE_SUBMIT && (r->receipt = malloc(STORE_RECEIPT_ROOM)) != NULL)
			r->receipt_cap = STORE_RECEIPT_ROOM;
	}
	return r;
}

void
store_req_free(struct store_req *r)
{
	if (r == NULL)
		return;
	free(r->audit_leaf);
	free(r->header);
	free(r->data);
	free(r->receipt);
	free(r->entries);
	for (size_t i = 0; i < r->n_list; i++)
		free(r->list[i]);
	free(r->list);
	free(r->list_len);
	free(r);
}

/* ---- queues ------------------------------------------------------------------------ */

static void
queue_push(struct queue *q, struct store_req *r)
{
	r->next = NULL;
	pthread_mutex_lock(&q->mu);
	if (q->tail)
		q->tail->next = r;
	else
		q->head = r;
	q->tail = r;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* Take up to max requests; blocks while empty. NULL once stopping and drained. */
static struct store_req *
queue_take(struct queue *q, unsigned max, unsigned delay_us)
{
	struct store_req *first, *last;
	unsigned n = 1;

	pthread_mutex_lock(&q->mu);
	while (q->head == NULL && !q->stopping)
		pthread_cond_wait(&q->cv, &q->mu);
	if (q->head == NULL) {
		pthread_mutex_unlock(&q->mu);
		return NULL;
	}
	if (delay_us > 0 && !q->stopping) {
		/* Group commit: give a light load a moment to fill the batch. */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += (long)delay_us * 1000;
		until.tv_sec += until.tv_nsec / 1000000000;
		until.tv_nsec %= 1000000000;
		pthread_cond_timedwait(&q->cv, &q->mu, &until);
	}
	first = last = q->head;
	while (n < max && last->next != NULL) {
		last = last->next;
		n++;
	}
	q->head = last->next;
	if (q->head == NULL)
		q->tail = NULL;
	last->next = NULL;
	pthread_mutex_unlock(&q->mu);
	return first;
}

static void
done_push_list(struct store *s, struct store_req *list)
{
	struct store_req *last = list;

	if (list == NULL)
		return;
	while (last->next != NULL)
		last = last->next;
	pthread_mutex_lock(&s->done_mu);
	if (s->done_tail)
		s->done_tail->next = list;
	else
		s->done_head = list;
	s->done_tail = last;
	pthread_mutex_unlock(&s->done_mu);
	uv_async_send(&s->async);
}

static void
on_async(uv_async_t *a)
{
	struct store *s = a->data;
	struct store_req *list;

	pthread_mutex_lock(&s->done_mu);
	list = s->done_head;
	s->done_head = s->done_tail = NULL;
	pthread_mutex_unlock(&s->done_mu);
	if (list != NULL)
		s->done(s->done_arg, list);
}

/* ---- SQLite ---------------------------------------------------------------------- */

/* Durable commits, and what walbuf's gathered WAL writes rely on (walbuf.c). */
static int
synchronous_full(struct db *db)
{
	sqlite3_stmt *st = db_stmt(db, "PRAGMA synchronous");
	int full = st != NULL && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) >= 2;

	db_done(db, st);
	return full;
}

/*
 * The layout's version, kept in the database's user_version. Older layouts are upgraded in
 * place, one step after the other:
 * - layout 1 (user_version 1, or 0 from before versions were recorded) kept each message's
 *   gateway receipt in its row and had an index by sender;
 * - layout 2 listed an inbox through an index by (recipient, state), and so sorted the
 *   recipient's whole backlog for every listing.
 * Any other is refused whole (PU_ERR_STORE_SCHEMA), never half-used.
 */
#define STORE_SCHEMA_VERSION 3

/* The database's user_version and how many objects it holds: PU_OK or PU_ERR_STORE. */
static int
layout_read(struct db *db, int *version, int *objects)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT (SELECT user_version FROM pragma_user_version), "
	    "(SELECT COUNT(*) FROM sqlite_schema)");
	int rc = PU_ERR_STORE;

	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		*version = sqlite3_column_int(st, 0);
		*objects = sqlite3_column_int(st, 1);
		rc = PU_OK;
	}
	db_done(db, st);
	return rc;
}

/*
 * A layout this gateway can open: its own; layout 1 (user_version 1, or 0 with tables from
 * before layouts were recorded), upgraded; or 0 with nothing in it, a new database.
 */
static int
layout_known(int version)
{
	return version == STORE_SCHEMA_VERSION || version == 2 || version == 1 || version == 0;
}

/* How many columns named `column` table has (0 or 1). */
static int
column_count(struct db *db, const char *table, const char *column)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?");
	int n = -1;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	db_done(db, st);
	return n;
}

/* Layout 1 to 2, inside the caller's transaction: PU_ERR_STORE_SCHEMA if it is not layout 1. */
static int
schema_upgrade_1(struct db *db)
{
	if (column_count(db, "messages", "receipt") != 1)
		return PU_ERR_STORE_SCHEMA;
	/* Receipts are made again from the log (stored_receipt): nothing is lost with them. */
	if (db_script(db, "DROP INDEX IF EXISTS messages_by_sender;"
	    "ALTER TABLE messages DROP COLUMN receipt;") != PU_OK)
		return PU_ERR_STORE;
	return PU_OK;
}

/*
 * Layout 2 to 3, inside the caller's transaction: each delivery gets its message's seq, and
 * the inbox its ordered index (made by the schema after this). PU_ERR_STORE_SCHEMA if it
 * is not layout 2.
 */
static int
schema_upgrade_2(struct db *db)
{
	if (column_count(db, "deliveries", "seq") != 0 ||
	    column_count(db, "deliveries", "recipient") != 1)
		return PU_ERR_STORE_SCHEMA;
	if (db_script(db, "ALTER TABLE deliveries ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;"
	    "UPDATE deliveries SET seq = (SELECT m.seq FROM messages m "
	    "  WHERE m.msg_id = deliveries.msg_id);"
	    "DROP INDEX IF EXISTS deliveries_by_recipient;") != PU_OK)
		return PU_ERR_STORE;
	return PU_OK;
}

/* Create the tables of a new database, or check an existing one's version: one transaction. */
static int
schema_ensure(struct db *db)
{
	char set_version[64];
	int rc, version = -1, objects = 0, from;

	if (db_run(db, "BEGIN IMMEDIATE") != PU_OK)
		return PU_ERR_STORE;
	if ((rc = layout_read(db, &version, &objects)) == PU_OK && !layout_known(version))
		rc = PU_ERR_STORE_SCHEMA;
	/* 0 with tables in it is layout 1 from before versions were recorded. */
	from = version == 0 && objects > 0 ? 1 : version;
	if (rc == PU_OK && from == 1)
		rc = schema_upgrade_1(db);
	if (rc == PU_OK && (from == 1 || from == 2))
		rc = schema_upgrade_2(db);
	snprintf(set_version, sizeof(set_version), "PRAGMA user_version = %d",
	    STORE_SCHEMA_VERSION);
	if (rc == PU_OK)
		rc = db_script(db, schema) == PU_OK && audit_schema(db) == PU_OK &&
		    db_script(db, set_version) == PU_OK &&
		    db_run(db, "COMMIT") == PU_OK ? PU_OK : PU_ERR_STORE;
	if (rc != PU_OK) {
		db_run(db, "ROLLBACK");
		return rc;
	}
	if (from == 1 || from == 2)
		log_info("store", "event=layout-upgraded from=%d to=%d", from, STORE_SCHEMA_VERSION);
	return PU_OK;
}

/*
 * Before SQLite's first use: no memory statistics, for which every allocation would take a
 * mutex shared by all threads. (Connections are opened without their own mutex: db_open.)
 */
static pthread_once_t sqlite_tuned = PTHREAD_ONCE_INIT;

static void
sqlite_tune(void)
{
	if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
		log_warn("store", "event=sqlite-config-ignored setting=memstatus");
}

static int
store_db_open(const char *path, struct db *db, int writer)
{
	pthread_once(&sqlite_tuned, sqlite_tune);
	/* The reader writes nothing but WAL checkpoints, which need a writable handle. */
	int flags = writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READWRITE;

	/* Only the writer appends to the WAL: it alone goes through walbuf. */
	if (walbuf_register() != SQLITE_OK ||
	    db_open(db, path, flags, writer ? WALBUF_VFS : NULL) != PU_OK)
		return PU_ERR_STORE;
	sqlite3_busy_timeout(db->h, 5000);
	/* Whichever connection closes last keeps the WAL, at its size (wal_leave_empty). */
	int persist = 1;
	sqlite3_file_control(db->h, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
	/* SQLite quietly opens a file it may not write read-only: the writer must refuse. */
	if (writer && sqlite3_db_readonly(db->h, "main") == 1)
		return PU_ERR_STORE_READONLY;
	if (writer) {
		int version, objects;
		/* Another layout is refused before anything is changed, the journal mode too. */
		if (layout_read(db, &version, &objects) != PU_OK)
			return PU_ERR_STORE;
		if (!layout_known(version))
			return PU_ERR_STORE_SCHEMA;
		/*
		 * Durable commits; WAL checkpoints are run by the reader, off the commit path.
		 * The page cache holds a batch of small messages (16 MiB: no spilling to the WAL
		 * mid-transaction, no re-reading what was just written), and the statement
		 * journal that undoes one request's savepoint stays in memory: in a temporary
		 * file it cost two system calls per page written.
		 */
		if (db_script(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
		    "PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=0;"
		    "PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;") != PU_OK ||
		    !synchronous_full(db))
			return PU_ERR_STORE;
		return schema_ensure(db);
	}
	return PU_OK;
}

/*
 * Give the WAL its working size, in zeros, once the writer has opened it. A commit that
 * makes the file longer also waits for the file system to journal the new size: on the
 * machine measured, an fdatasync after 64 KiB appended took 270 µs, after 64 KiB
 * overwritten 131 µs. Under a steady load the WAL grows to about 256 MiB and is then
 * overwritten in place (wal_restart); given that size at start (260 MiB by default: 65,536
 * frames of 4,120 bytes and the tail the writer copies), it does not append. SQLite reads a
 * WAL only up to its last valid commit: zeros after it are no frames. A clean stop leaves
 * the WAL at its size (wal_leave_empty), and so does a crash: only a new database, or a
 * WAL deleted by another program's connection, is written here. At most a quarter of the
 * free space; a failure leaves the file as it was.
 */
static void
wal_presize(const struct store *s, const char *db_path)
{
	static const uint8_t zeros[256 * 1024];
	char path[2300];
	struct stat st;
	struct statvfs vfs;
	off_t off, target;
	int fd, e = 0;

	snprintf(path, sizeof(path), "%s-wal", db_path);
	if (s->lim.wal_presize == 0 || (fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return;
	if (fstat(fd, &st) != 0 || fstatvfs(fd, &vfs) != 0) {
		close(fd);
		return;
	}
	uint64_t room = (uint64_t)vfs.f_bavail * vfs.f_frsize / 4;
	target = (off_t)(s->lim.wal_presize < room ? s->lim.wal_presize : room);
	for (off = st.st_size; off < target && e == 0; ) {
		size_t len = target - off < (off_t)sizeof(zeros) ? (size_t)(target - off) : sizeof(zeros);
		ssize_t n = pwrite(fd, zeros, len, off);
		if (n != (ssize_t)len)
			e = n < 0 ? errno : ENOSPC;
		else
			off += (off_t)len;
	}
	if (e == 0 && off > st.st_size) {
		if (fdatasync(fd) == 0)
			log_info("store", "event=wal-presized bytes=%lld", (long long)off);
		else
			e = errno;
	}
	if (e != 0) {
		/* Only an optimisation: the WAL grows as it would have. */
		log_warn("store", "event=wal-presize-failed errno=%d", e);
		if (ftruncate(fd, st.st_size) != 0)
			log_warn("store", "event=wal-presize-undo-failed errno=%d", errno);
	}
	close(fd);
}

/*
 * Undo a savepoint's writes and drop it. PU_ERR_STORE when either fails: its writes may
 * still be in the transaction, which must then not be committed.
 */
static int
savepoint_undo(struct db *db, const char *rollback_to, const char *release)
{
	if (db_run(db, rollback_to) != PU_OK)
		return PU_ERR_STORE;
	return db_run(db, release);
}

/* ---- writer: one request inside the batch's transaction ------------------------------ */

/*
 * An upload in progress has a file of its own, named after the msg_id, the session and the
 * session's upload: neither two sessions sending the same msg_id (a retry on a new
 * connection) nor a session sending it again before its first upload is committed (the
 * spool writes, the writer commits) touch each other's.
 */
static void
part_path(const struct store *s, const struct store_req *r, char *out, size_t n)
{
	char suffix[64];

	snprintf(suffix, sizeof(suffix), "%llu.%llu.part", (unsigned long long)r->session,
	    (unsigned long long)r->upload);
	spool_path(s, r->msg_id, suffix, out, n);
}

/* The upload's file goes (an aborted upload, or one whose message is stored already). */
static void
part_unlink(const struct store *s, const struct store_req *r)
{
	char path[2200];

	part_path(s, r, path, sizeof(path));
	unlink(path);
}

/*
 * A submission that will not be stored: its upload's file and, if it got that far, the
 * file under the final name go. Only for a msg_id no row holds, inside the transaction
 * that would have stored it: a file under that name is this submission's (spool_commit).
 */
static void
upload_unlink(const struct store *s, const struct store_req *r)
{
	char path[2200];

	if (r->chunk_count <= 1)
		return;
	part_unlink(s, r);
	spool_path(s, r->msg_id, "msg", path, sizeof(path));
	unlink(path);
}

/* What a failed file operation tells the client: full, read-only, or the store failed. */
static int
errno_store_error(int e)
{
	if (e == ENOSPC || e == EDQUOT)
		return PU_ERR_STORE_FULL;
	if (e == EROFS || e == EACCES || e == EPERM)
		return PU_ERR_STORE_READONLY;
	return PU_ERR_STORE;
}

static int
write_chunk(struct store *s, struct store_req *r)
{
	char path[2200];
	int fd;
	off_t off = (off_t)r->index * (PU_CHUNK_SIZE + PU_CHUNK_ABYTES);
	ssize_t w;

	part_path(s, r, path, sizeof(path));
	/* The first chunk creates the file, the others only extend it: never a silent re-create. */
	fd = open(path, O_WRONLY | O_CLOEXEC | (r->index == 0 ? O_CREAT | O_EXCL : 0), 0600);
	if (fd < 0)
		return errno_store_error(errno);
	w = pwrite(fd, r->data, r->data_len, off);
	if (w >= 0 && w != (ssize_t)r->data_len)
		errno = ENOSPC;	/* a short write: the file system is full */
	/*
	 * Start writing it out now, without waiting: the fsync before the commit then finds
	 * little left to write, instead of the whole upload at once. Only a hint, so a
	 * failure is not one; the fsync reports any that matter.
	 */
	if (w == (ssize_t)r->data_len)
		(void)sync_file_range(fd, off, (off_t)r->data_len, SYNC_FILE_RANGE_WRITE);
	close(fd);
	return w == (ssize_t)r->data_len ? PU_OK : errno_store_error(errno);
}

/*
 * fsync the spool file, then move it into place: only then may a row reference it. The
 * caller has checked, in this transaction, that no row names the msg_id.
 */
static int
spool_commit(struct store *s, const struct store_req *r)
{
	char part[2200], final[2200];
	int fd, rc = PU_OK, moved;

	part_path(s, r, part, sizeof(part));
	spool_path(s, r->msg_id, "msg", final, sizeof(final));
	if ((fd = open(part, O_RDONLY | O_CLOEXEC)) < 0)
		return errno_store_error(errno);
	if (fsync(fd) != 0)
		rc = errno_store_error(errno);
	close(fd);
	/*
	 * link refuses an existing name. One that no row names is left by a batch whose
	 * COMMIT failed (writer_batch keeps it: a failed commit may still prove durable after
	 * a crash, and its row would then need the file); this upload replaces it.
	 */
	if (rc == PU_OK) {
		if (link(part, final) == 0)
			moved = unlink(part) == 0;
		else
			moved = errno == EEXIST && rename(part, final) == 0;
		if (!moved)
			rc = errno_store_error(errno);
	}
	if (rc == PU_OK && (fd = open(s->spool, O_RDONLY | O_DIRECTORY)) >= 0) {
		if (fsync(fd) != 0)
			rc = errno_store_error(errno);
		close(fd);
	}
	return rc;
}

/* The request's audit entry, appended to the tree. */
static int
request_leaf(struct store *s, struct db *db, struct store_req *r)
{
	return audit_append(&s->audit, db, &r->audit_leaf, &r->audit_leaf_len, &r->audit_index);
}

/* Room for need bytes of receipt, growing what the loop gave only when it is too small. */
static int
receipt_room(struct store_req *r, size_t need)
{
	if (need <= r->receipt_cap)
		return PU_OK;
	free(r->receipt);
	r->receipt_cap = 0;
	if ((r->receipt = malloc(need)) == NULL)
		return PU_ERR_NOMEM;
	r->receipt_cap = need;
	return PU_OK;
}

/*
 * The gateway receipt, made once the batch's checkpoint is signed: that checkpoint, the
 * message's "store" leaf and the leaf's inclusion proof in it. The checkpoint's signature
 * is the receipt's: the leaf says which message, header, sender and time (PROTOCOL §6.3).
 */
static int
encode_receipt(struct store_req *r, const char *witnessed)
{
	Puente__GatewayReceipt g = PUENTE__GATEWAY_RECEIPT__INIT;
	ProtobufCBinaryData proof[MERKLE_MAX_PROOF];

	g.audit_index = r->audit_index;
	g.checkpoint = r->checkpoint;
	for (size_t i = 0; i < r->proof_len; i++) {
		proof[i].data = r->proof + i * MERKLE_HASH_LEN;
		proof[i].len = MERKLE_HASH_LEN;
	}
	g.inclusion_proof = proof;
	g.n_inclusion_proof = r->proof_len;
	g.audit_entry.data = r->audit_leaf;
	g.audit_entry.len = r->audit_leaf_len;
	g.witnessed = (char *)witnessed;
	if (receipt_room(r, protobuf_c_message_get_packed_size(&g.base)) != PU_OK)
		return PU_ERR_NOMEM;
	r->receipt_len = protobuf_c_message_pack(&g.base, r->receipt);
	return PU_OK;
}

/*
 * The receipt of a message stored earlier (a retry): its leaf proven in the newest stored
 * checkpoint, which holds every stored leaf. A receipt is not kept with its message: the
 * log proves the leaf again at any later size, and storing the receipt cost a second
 * write of the whole row.
 */
static int
stored_receipt(struct db *db, struct store_req *r)
{
	char *witnessed = NULL;
	int64_t at;
	int rc;

	if ((rc = audit_stored_proof(db, r->audit_index, r->checkpoint, r->proof, &r->proof_len,
	    &r->audit_leaf, &r->audit_leaf_len)) == PU_OK &&
	    (rc = audit_witnessed(db, &witnessed, &at)) == PU_OK)
		rc = encode_receipt(r, witnessed != NULL ? witnessed : "");
	free(witnessed);
	/* The message is stored whatever failed here: the sender is told to retry, not refused. */
	return rc == PU_OK || rc == PU_ERR_NOMEM ? rc : PU_ERR_STORE;
}

/*
 * The msg_id is taken: the same header is a retry (found, with the leaf that stored it),
 * another header a conflict.
 */
static int
submit_existing(struct db *db, struct store_req *r)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT header_hash, audit_index FROM messages "
	    "WHERE msg_id = ?");
	int rc = PU_ERR_STORE;

	if (st == NULL)
		return rc;
	sqlite3_bind_blob(st, 1, r->msg_id, PU_MSG_ID_LEN, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const void *hh = sqlite3_column_blob(st, 0);
		r->found = 1;
		r->same_header = sqlite3_column_bytes(st, 0) == PU_HASH_LEN &&
		    memcmp(hh, r->header_hash, PU_HASH_LEN) == 0;
		if (r->same_header) {
			r->audit_index = (uint64_t)sqlite3_column_int64(st, 1);
			rc = PU_OK;
		} else {
			rc = PU_ERR_CONFLICT;
		}
	} else {
		/* Not stored: r->found stays 0 (do_submit then stores it). */
		rc = PU_ERR_CONFLICT;
	}
	db_done(db, st);
	return rc;
}

/* Add delta (may be negative) to a sender's queued bytes. */
static int
quota_add(struct db *db, const char *sender, int64_t delta)
{
	sqlite3_stmt *st = db_stmt(db, "INSERT INTO quota (sender, queued) VALUES (?, ?) "
	    "ON CONFLICT (sender) DO UPDATE SET queued = MAX(0, queued + excluded.queued)");
	int rc;

	if (st == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_text(st, 1, sender, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, delta);
	rc = sqlite3_step(st) == SQLITE_DONE ? PU_OK : PU_ERR_STORE;
	db_done(db, st);
	return rc;
}

/* A message leaves the queue (answered by all, or expired): free its sender's quota. */
static int
message_finish(struct db *db, const uint8_t *msg_id, int state)
{
	sqlite3_stmt *st = db_stmt(db, "UPDATE messages SET state = ? WHERE msg_id = ? AND "
	    "state = 0 RETURNING sender, content_length");
	int rc = PU_OK;

	if (st == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_int(st, 1, state);
	sqlite3_bind_blob(st, 2, msg_id, PU_MSG_ID_LEN, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		char sender[STORE_AGENCY_MAX];
		int64_t len = sqlite3_column_int64(st, 1);
		snprintf(sender, sizeof(sender), "%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_step(st);
		db_done(db, st);
		return quota_add(db, sender, -len);
	}
	db_done(db, st);
	return rc;
}

static int
quota_check(struct store *s, struct db *db, const struct store_req *r)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT COALESCE((SELECT queued FROM quota WHERE "
	    "sender = ?), 0)");
	int rc = PU_ERR_STORE;

	if (st == NULL)
		return rc;
	sqlite3_bind_text(st, 1, r->agency, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		uint64_t queued = (uint64_t)sqlite3_column_int64(st, 0);
		rc = queued + r->content_length > s->lim.sender_quota ? PU_ERR_QUOTA : PU_OK;
	}
	db_done(db, st);
	return rc;
}

/* The message's row; *seq its place in arrival order. */
static int
submit_insert(struct db *db, struct store_req *r, sqlite3_int64 *seq)
{
	sqlite3_stmt *st;
	int src;

	st = db_stmt(db, "INSERT INTO messages (msg_id, header_hash, sender, type, adoption_scope,"
	    " case_id, created_at, expires_at, respond_by, in_reply_to, content_length, chunk_count,"
	    " header, body, accepted_at, audit_index, directory_serial, state)"
	    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0)");
	if (st == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_blob(st, 1, r->msg_id, PU_MSG_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, r->header_hash, PU_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->agency, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, r->type);
	sqlite3_bind_int(st, 5, r->adoption_scope);
	sqlite3_bind_text(st, 6, r->case_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, r->created_at);
	sqlite3_bind_int64(st, 8, r->expires_at);
	sqlite3_bind_int64(st, 9, r->respond_by);
	if (r->has_reply)
		sqlite3_bind_blob(st, 10, r->in_reply_to, PU_MSG_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)r->content_length);
	sqlite3_bind_int(st, 12, (int)r->chunk_count);
	sqlite3_bind_blob(st, 13, r->header, (int)r->header_len, SQLITE_STATIC);
	if (r->chunk_count == 1)
		sqlite3_bind_blob(st, 14, r->data, (int)r->data_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 15, r->accepted_at);
	sqlite3_bind_int64(st, 16, (sqlite3_int64)r->audit_index);
	sqlite3_bind_int64(st, 17, (sqlite3_int64)r->directory_serial);
	src = sqlite3_step(st);
	*seq = sqlite3_last_insert_rowid(db->h);
	db_done(db, st);
	if (src == SQLITE_CONSTRAINT)
		return PU_ERR_CONFLICT;
	return src == SQLITE_DONE ? PU_OK : PU_ERR_STORE;
}

static int
deliveries_insert(struct db *db, const struct store_req *r, sqlite3_int64 seq)
{
	sqlite3_stmt *st = db_stmt(db, "INSERT INTO deliveries (msg_id, recipient, state, "
	    "updated_at, seq) VALUES (?, ?, ?, ?, ?)");
	int rc = PU_OK;

	if (st == NULL)
		return PU_ERR_STORE;
	for (size_t i = 0; i < r->n_recipients && rc == PU_OK; i++) {
		/* Under federal review, only the federal procuraduria sees it at first. */
		int held = r->hold_for[0] && strcmp(r->recipients[i], r->hold_for) != 0;
		sqlite3_bind_blob(st, 1, r->msg_id, PU_MSG_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, r->recipients[i], -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, held ? DLV_HELD : DLV_QUEUED);
		sqlite3_bind_int64(st, 4, r->accepted_at);
		sqlite3_bind_int64(st, 5, seq);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = PU_ERR_STORE;
		sqlite3_reset(st);
	}
	db_done(db, st);
	return rc;
}

/*
 * One message, inside the batch's transaction and its own savepoint, so that a refused
 * message (quota, a msg_id taken by a racing session) leaves the rest of the batch intact.
 */
static int
do_submit(struct store *s, struct db *db, struct store_req *r)
{
	struct merkle_frontier before = s->audit.tree;
	sqlite3_int64 seq;
	int rc;

	if (db_run(db, "SAVEPOINT msg") != PU_OK)
		return PU_ERR_STORE;
	/*
	 * Stored already (a retry that raced us, or a msg_id taken by another header): the
	 * winner's answer, and this upload's file goes without touching the winner's.
	 */
	if ((rc = submit_existing(db, r)) != PU_ERR_CONFLICT || r->found) {
		part_unlink(s, r);
		db_run(db, "RELEASE msg");
		return rc;
	}
	if ((rc = quota_check(s, db, r)) != PU_OK)
		goto undo;
	if (r->chunk_count > 1 && (rc = spool_commit(s, r)) != PU_OK)
		goto undo;
	r->accepted_at = now_s();
	if ((rc = request_leaf(s, db, r)) != PU_OK)
		goto undo;
	if ((rc = submit_insert(db, r, &seq)) == PU_ERR_CONFLICT) {
		s->audit.tree = before;
		/* The loser of a race gets the winner's answer, once its own leaf is gone. */
		if (savepoint_undo(db, "ROLLBACK TO msg", "RELEASE msg") != PU_OK)
			return PU_ERR_STORE;
		return submit_existing(db, r);
	}
	if (rc == PU_OK)
		rc = deliveries_insert(db, r, seq);
	if (rc == PU_OK)
		rc = quota_add(db, r->agency, (int64_t)r->content_length);
	if (rc != PU_OK)
		goto undo;
	return db_run(db, "RELEASE msg");
undo:
	s->audit.tree = before;
	/* The msg_id was not stored (checked above): no row will name a file under it. */
	upload_unlink(s, r);
	/* An undo that fails leaves writes behind: the request's own savepoint must go too. */
	return savepoint_undo(db, "ROLLBACK TO msg", "RELEASE msg") == PU_OK ? rc : PU_ERR_STORE;
}

static int
do_delivered(struct store *s, struct db *db, struct store_req *r)
{
	sqlite3_stmt *st = db_stmt(db, "UPDATE deliveries SET state = 1, updated_at = ? "
	    "WHERE msg_id = ? AND recipient = ? AND state = 0");
	int rc;

	if (st == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_int64(st, 1, now_s());
	sqlite3_bind_blob(st, 2, r->msg_id, PU_MSG_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->agency, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? PU_OK : PU_ERR_STORE;
	db_done(db, st);
	if (rc == PU_OK)
		rc = request_leaf(s, db, r);
	return rc;
}

/* An inbox entry from a row of STORE_INBOX_COLUMNS (store.h). */
static void
inbox_entry_read(sqlite3_stmt *st, struct store_inbox_entry *e)
{
	memcpy(e->msg_id, sqlite3_column_blob(st, 0), PU_MSG_ID_LEN);
	snprintf(e->sender, sizeof(e->sender), "%s", (const char *)sqlite3_column_text(st, 1));
	e->type = sqlite3_column_int(st, 2);
	snprintf(e->case_id, sizeof(e->case_id), "%s", (const char *)sqlite3_column_text(st, 3));
	e->created_at = sqlite3_column_int64(st, 4);
	e->respond_by = sqlite3_column_int64(st, 5);
	e->content_length = (uint64_t)sqlite3_column_int64(st, 6);
}

/*
 * PFPNNA opened it (its receipt's MAC proves K really was wrapped for it, so a sender
 * cannot bypass review with a stanza that does not open): the other recipients may now
 * fetch it. r->recipients are those released, r->released what their inbox now shows.
 */
static int
release_held(struct db *db, struct store_req *r)
{
	sqlite3_stmt *st = db_stmt(db, "UPDATE deliveries SET state = 0, updated_at = ? "
	    "WHERE msg_id = ? AND state = 3 RETURNING recipient");
	struct store_inbox_entry *m = &r->released;
	int src, rc;

	if (st == NULL)
		return PU_ERR_STORE;
	r->n_recipients = 0;
	sqlite3_bind_int64(st, 1, now_s());
	sqlite3_bind_blob(st, 2, r->msg_id, PU_MSG_ID_LEN, SQLITE_STATIC);
	/* Stepped to the end whatever the count: every row is updated only then. */
	while ((src = sqlite3_step(st)) == SQLITE_ROW)
		if (r->n_recipients < PU_MAX_RECIPIENTS)
			snprintf(r->recipients[r->n_recipients++], sizeof(r->recipients[0]), "%s",
			    (const char *)sqlite3_column_text(st, 0));
	rc = src == SQLITE_DONE ? PU_OK : PU_ERR_STORE;
	db_done(db, st);
	if (rc != PU_OK || r->n_recipients == 0)
		return rc;
	st = db_stmt(db, "SELECT " STORE_INBOX_COLUMNS " FROM messages m WHERE msg_id = ?");
	if (st == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_blob(st, 1, r->msg_id, PU_MSG_ID_LEN, SQLITE_STATIC);
	rc = PU_ERR_STORE;
	if (sqlite3_step(st) == SQLITE_ROW) {
		inbox_entry_read(st, m);
		rc = PU_OK;
	}
	db_done(db, st);
	return rc;
}

static int
do_receipt(struct store *s, struct db *db, struct store_req *r)
{
	sqlite3_stmt *st;
	int rc, changed;

	/* Only a recipient the message was delivered to may answer for it. */
	/* Delivered and not yet answered: a second receipt never overwrites the first. */
	st = db_stmt(db, "UPDATE deliveries SET state = 2, outcome = ?, receipt = ?, "
	    "updated_at = ? WHERE msg_id = ? AND recipient = ? AND state = 1");
	if (st == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_int(st, 1, r->outcome);
	sqlite3_bind_blob(st, 2, r->data, (int)r->data_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_s());
	sqlite3_bind_blob(st, 4, r->msg_id, PU_MSG_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, r->agency, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? PU_OK : PU_ERR_STORE;
	changed = sqlite3_changes(db->h);
	db_done(db, st);
	if (rc != PU_OK)
		return rc;
	if (changed == 0)
		return PU_ERR_NOT_DELIVERED;
	if ((rc = request_leaf(s, db, r)) != PU_OK)
		return rc;
	if (r->releases_hold && (rc = release_held(db, r)) != PU_OK)
		return rc;
	/* Every recipient answered: the message no longer counts against the sender's quota. */
	sqlite3_stmt *open_st = db_stmt(db, "SELECT COUNT(*) FROM deliveries WHERE msg_id = ? "
	    "AND state IN (0, 1, 3)");
	int still_open = 1;
	if (open_st == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_blob(open_st, 1, r->msg_id, PU_MSG_ID_LEN, SQLITE_STATIC);
	if (sqlite3_step(open_st) == SQLITE_ROW)
		still_open = sqlite3_column_int(open_st, 0) > 0;
	db_done(db, open_st);
	return still_open ? PU_OK : message_finish(db, r->msg_id, MSG_DONE);
}

/* The signed notice to the sender of an expired message, and its audit leaf. */
static int
expire_one(struct store *s, struct db *db, const uint8_t *msg_id, const char *sender,
    const char *case_id, int type, const uint8_t *header_hash)
{
	Puente__NonDeliveryNotice n = PUENTE__NON_DELIVERY_NOTICE__INIT;
	Puente__AuditEntry e = PUENTE__AUDIT_ENTRY__INIT;
	char *undelivered[PU_MAX_RECIPIENTS];
	sqlite3_stmt *st = db_stmt(db, "SELECT recipient FROM deliveries WHERE msg_id = ? "
	    "AND state IN (0, 1, 3) ORDER BY recipient");
	uint8_t *notice = NULL, *leaf = NULL;
	size_t notice_len, leaf_len, n_und = 0;
	uint64_t index;
	int rc = PU_ERR_STORE;

	if (st == NULL)
		return rc;
	sqlite3_bind_blob(st, 1, msg_id, PU_MSG_ID_LEN, SQLITE_STATIC);
	while (n_und < PU_MAX_RECIPIENTS && sqlite3_step(st) == SQLITE_ROW)
		undelivered[n_und++] = strdup((const char *)sqlite3_column_text(st, 0));
	db_done(db, st);
	n.gateway_id = s->signer.gateway_id;
	n.msg_id.data = (uint8_t *)msg_id;
	n.msg_id.len = PU_MSG_ID_LEN;
	n.header_hash.data = (uint8_t *)header_hash;
	n.header_hash.len = PU_HASH_LEN;
	n.n_undelivered = n_und;
	n.undelivered = undelivered;
	n.at = now_s();
	if (signed_create(PU_CTX_NON_DELIVERY, &n.base, s->signer.key_id, s->signer.secret_key,
	    &notice, &notice_len) != PU_OK)
		goto out;
	e.event = PUENTE__AUDIT_EVENT__AUDIT_EVENT_NON_DELIVERY;
	e.at = n.at;
	e.agency_id = (char *)sender;
	e.msg_id = n.msg_id;
	e.case_id = (char *)case_id;
	e.type = type;
	e.outcome = (char *)pu_err_name(PU_ERR_EXPIRED);
	e.header_hash = n.header_hash;
	e.statement.data = notice;
	e.statement.len = notice_len;
	if (audit_encode(&e, &leaf, &leaf_len) != PU_OK ||
	    audit_append(&s->audit, db, &leaf, &leaf_len, &index) != PU_OK)
		goto out;
	if ((st = db_stmt(db, "INSERT OR REPLACE INTO notices (msg_id, sender, notice, sent) "
	    "VALUES (?, ?, ?, 0)")) == NULL)
		goto out;
	sqlite3_bind_blob(st, 1, msg_id, PU_MSG_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, notice, (int)notice_len, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? PU_OK : PU_ERR_STORE;
	db_done(db, st);
	if (rc != PU_OK)
		goto out;
	if ((st = db_stmt(db, "UPDATE deliveries SET state = 4 WHERE msg_id = ? AND "
	    "state IN (0, 1, 3)")) == NULL) {
		rc = PU_ERR_STORE;
		goto out;
	}
	sqlite3_bind_blob(st, 1, msg_id, PU_MSG_ID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? PU_OK : PU_ERR_STORE;
	db_done(db, st);
	if (rc == PU_OK)
		rc = message_finish(db, msg_id, MSG_EXPIRED);
out:
	for (size_t i = 0; i < n_und; i++)
		free(undelivered[i]);
	free(notice);
	free(leaf);
	return rc;
}

/*
 * Periodic housekeeping, in the writer's transaction: messages that expired before every
 * recipient receipted get a non-delivery notice; ciphertext of finished messages older than
 * the retention period is deleted (the rows, the receipts and the audit log stay); overdue
 * replies are counted.
 */
static int
do_sweep(struct store *s, struct db *db, struct store_req *r)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT msg_id, sender, case_id, type, header_hash "
	    "FROM messages WHERE state = 0 AND expires_at <= ? LIMIT 256");
	int64_t now = now_s();
	int rc = PU_OK;

	if (st == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_int64(st, 1, now);
	while (rc == PU_OK && sqlite3_step(st) == SQLITE_ROW) {
		uint8_t id[PU_MSG_ID_LEN], hh[PU_HASH_LEN];
		char sender[STORE_AGENCY_MAX], case_id[STORE_CASE_MAX];
		memcpy(id, sqlite3_column_blob(st, 0), PU_MSG_ID_LEN);
		snprintf(sender, sizeof(sender), "%s", (const char *)sqlite3_column_text(st, 1));
		snprintf(case_id, sizeof(case_id), "%s", (const char *)sqlite3_column_text(st, 2));
		memcpy(hh, sqlite3_column_blob(st, 4), PU_HASH_LEN);
		rc = expire_one(s, db, id, sender, case_id, sqlite3_column_int(st, 3), hh);
		r->expired++;
	}
	db_done(db, st);
	if (rc != PU_OK)
		return rc;
	/* Retention: drop the ciphertext of finished messages. */
	if ((st = db_stmt(db, "SELECT msg_id, chunk_count FROM messages WHERE state IN (1, 2) "
	    "AND purged = 0 AND accepted_at < ?")) == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_int64(st, 1, now - (int64_t)r->retention_days * 86400);
	while (sqlite3_step(st) == SQLITE_ROW) {
		char path[2200];
		if (sqlite3_column_int(st, 1) > 1) {
			spool_path(s, sqlite3_column_blob(st, 0), "msg", path, sizeof(path));
			unlink(path);
		}
		r->purged++;
	}
	db_done(db, st);
	if ((st = db_stmt(db, "UPDATE messages SET body = NULL, purged = 1 WHERE "
	    "state IN (1, 2) AND purged = 0 AND accepted_at < ?")) == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_int64(st, 1, now - (int64_t)r->retention_days * 86400);
	rc = sqlite3_step(st) == SQLITE_DONE ? PU_OK : PU_ERR_STORE;
	db_done(db, st);
	if (rc != PU_OK)
		return rc;
	/* Replies owed: a deadline passed and no reply from a recipient arrived. */
	if ((st = db_stmt(db, "SELECT COUNT(*) FROM messages m WHERE m.respond_by > 0 AND "
	    "m.respond_by < ? AND NOT EXISTS (SELECT 1 FROM messages r WHERE r.in_reply_to = "
	    "m.msg_id)")) == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_int64(st, 1, now);
	if (sqlite3_step(st) == SQLITE_ROW)
		r->overdue = (uint64_t)sqlite3_column_int64(st, 0);
	db_done(db, st);
	return PU_OK;
}

/* Only the notice that was sent is marked (one per request: msg_id). */
static int
do_notices_sent(struct db *db, struct store_req *r)
{
	sqlite3_stmt *st = db_stmt(db, "UPDATE notices SET sent = 1 WHERE sender = ? AND msg_id = ?");
	int rc;

	if (st == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_text(st, 1, r->agency, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, r->msg_id, PU_MSG_ID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? PU_OK : PU_ERR_STORE;
	db_done(db, st);
	return rc;
}

/* Only a recipient the message was delivered to can say it opened that very header. */
static int
do_open(struct store *s, struct db *db, struct store_req *r)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT 1 FROM deliveries d JOIN messages m USING (msg_id) "
	    "WHERE d.msg_id = ? AND d.recipient = ? AND d.state IN (1, 2) AND m.header_hash = ?");
	int found;

	if (st == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_blob(st, 1, r->msg_id, PU_MSG_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->agency, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, r->header_hash, PU_HASH_LEN, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	db_done(db, st);
	if (!found)
		return PU_ERR_NOT_DELIVERED;
	return request_leaf(s, db, r);
}

static int
writer_one(struct store *s, struct db *db, struct store_req *r)
{
	switch (r->kind) {
	case STORE_SUBMIT:
		return do_submit(s, db, r);
	case STORE_DELIVERED:
		return do_delivered(s, db, r);
	case STORE_RECEIPT:
		return do_receipt(s, db, r);
	case STORE_AUDIT:
		return request_leaf(s, db, r);
	case STORE_SWEEP:
		return do_sweep(s, db, r);
	case STORE_NOTICES_SENT:
		return do_notices_sent(db, r);
	case STORE_OPEN:
		return do_open(s, db, r);
	case STORE_COSIGN:
		return audit_cosign(&s->audit, db, r->data, r->data_len, r->agency, r->witness_pk,
		    now_s());
	default:
		return PU_ERR_INTERNAL;
	}
}

static int
is_commit_kind(enum store_kind k)
{
	return k == STORE_SUBMIT || k == STORE_DELIVERED || k == STORE_RECEIPT ||
	    k == STORE_AUDIT || k == STORE_SWEEP || k == STORE_NOTICES_SENT || k == STORE_OPEN ||
	    k == STORE_COSIGN;
}

/* Requests whose answer shows their leaf in the batch's checkpoint. */
static int
wants_proof(const struct store_req *r)
{
	return r->rc == PU_OK && ((r->kind == STORE_SUBMIT && !r->found) ||
	    r->kind == STORE_RECEIPT || r->kind == STORE_OPEN);
}

/*
 * The end of a batch that added leaves, still inside its transaction: sign the checkpoint
 * of the grown tree, then give each new message its receipt with that checkpoint and its
 * inclusion proof, and each recorded receipt or statement the same for its ACK. A retry
 * gets the same proof for the leaf that stored its message.
 */
static int
finish_batch(struct store *s, struct db *db, struct store_req *batch)
{
	int rc;

	if ((rc = audit_checkpoint(&s->audit, db, now_s())) != PU_OK)
		return rc;
	for (struct store_req *r = batch; r != NULL; r = r->next) {
		if (!wants_proof(r))
			continue;
		if ((rc = audit_writer_proof(&s->audit, db, r->audit_index, r->proof,
		    &r->proof_len)) != PU_OK)
			return rc;
		_Static_assert(sizeof(r->checkpoint) == sizeof(s->audit.checkpoint),
		    "a request holds the whole checkpoint");
		memcpy(r->checkpoint, s->audit.checkpoint, sizeof(r->checkpoint));
		if (r->kind == STORE_SUBMIT && (rc = encode_receipt(r, s->audit.witnessed)) != PU_OK)
			return rc;
	}
	/* Retries, of messages stored earlier or in this batch: only reads, so each alone. */
	for (struct store_req *r = batch; r != NULL; r = r->next) {
		if (r->kind == STORE_SUBMIT && r->rc == PU_OK && r->found)
			r->rc = stored_receipt(db, r);
	}
	return PU_OK;
}

/*
 * Group commit: every request taken in one go shares one transaction and one fsync.
 * Nothing is answered before the commit; if it fails, every write in it failed, and the
 * in-memory tree goes back to where the batch began.
 */
static void
writer_batch(struct store *s, struct db *db, struct store_req *batch)
{
	int in_txn = db_run(db, "BEGIN IMMEDIATE") == PU_OK, lost = 0;
	unsigned n_msgs = 0, n_leaves = 0;
	struct merkle_frontier start = s->audit.tree, before;
	uint64_t signed_size = s->audit.signed_size;

	for (struct store_req *r = batch; r != NULL; r = r->next) {
		/* Each request in a savepoint: one that fails leaves none of its writes behind. */
		if (in_txn && !lost && db_run(db, "SAVEPOINT req") != PU_OK)
			lost = 1;
		before = s->audit.tree;
		r->rc = in_txn && !lost ? writer_one(s, db, r) : PU_ERR_STORE;
		/*
		 * On a full disk or an I/O error SQLite may roll the whole transaction back
		 * itself; what follows would then run outside it. Fail the batch instead.
		 */
		if (in_txn && !lost && sqlite3_get_autocommit(db->h))
			lost = 1;
		/* A request's writes that cannot be released or undone fail the whole batch. */
		if (in_txn && !lost && (r->rc == PU_OK ? db_run(db, "RELEASE req") :
		    savepoint_undo(db, "ROLLBACK TO req", "RELEASE req")) != PU_OK)
			lost = 1;
		if (r->rc != PU_OK)
			s->audit.tree = before;
		if (r->kind == STORE_SUBMIT && r->rc == PU_OK && !r->found)
			n_msgs++;
		if (is_commit_kind(r->kind) && r->kind != STORE_COSIGN && r->rc == PU_OK && !r->found)
			n_leaves++;
	}
	if (in_txn && !lost && (finish_batch(s, db, batch) != PU_OK || sqlite3_get_autocommit(db->h)))
		lost = 1;
	if (in_txn && (lost || db_run(db, "COMMIT") != PU_OK)) {
		int why = sqlite3_errcode(db->h) == SQLITE_FULL ? PU_ERR_STORE_FULL : PU_ERR_STORE;
		db_run(db, "ROLLBACK");
		for (struct store_req *r = batch; r != NULL; r = r->next) {
			/*
			 * The uploads of submissions that never ran go. A message moved into
			 * place keeps its file: the failed commit may yet prove durable
			 * (spool_commit replaces the file for a retry; recovery removes it
			 * if no row names it).
			 */
			if (r->kind == STORE_SUBMIT && !r->found && r->chunk_count > 1)
				part_unlink(s, r);
			if (is_commit_kind(r->kind) && (r->rc == PU_OK || r->rc == PU_ERR_STORE))
				r->rc = why;
		}
		n_msgs = n_leaves = 0;
		s->audit.tree = start;
		s->audit.signed_size = signed_size;
	}
	__atomic_add_fetch(&s->commits, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->messages, n_msgs, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->leaves, n_leaves, __ATOMIC_RELAXED);
}

/* ---- the WAL's size --------------------------------------------------------------- */

/*
 * The WAL starts again from its beginning only when a write begins with every frame of it
 * already copied into the database. Under a steady load the reader's checkpoints never
 * catch up with the commits, and the WAL would grow without end (a gigabyte a quarter
 * minute at 1,000 small messages a second). So the writer asks the reader to copy the
 * frames each WAL_COPY_FRAMES, beside the commits. Past WAL_RESTART_FRAMES, once the
 * reader's copy leaves fewer than WAL_TAIL_FRAMES behind, the writer copies those itself,
 * between two batches (they wait for it: a few milliseconds), and the next batch starts
 * the WAL again. The file keeps its size: commits then overwrite blocks it already has, so
 * their fdatasync does not wait for the file system to record a longer file.
 */
#define WAL_COPY_FRAMES 16384		/* 64 MiB of 4 KiB pages */
#define WAL_RESTART_FRAMES 65536	/* 256 MiB */
#define WAL_TAIL_FRAMES 512
#define WAL_ASKED_BY_WRITER 1	/* a STORE_CHECKPOINT's index: not the timer's */

static int
on_wal_commit(void *arg, sqlite3 *h, const char *db_name, int frames)
{
	(void)h;
	(void)db_name;
	((struct store *)arg)->wal_frames = frames;
	return SQLITE_OK;
}

static void
wal_restart(struct store *s, struct db *db)
{
	int frames = 0, copied = 0, done = 0;

	if (s->wal_frames < s->wal_asked_at)
		s->wal_asked_at = 0;	/* the WAL started again */
	if (s->wal_asked_at > 0 && (done = __atomic_load_n(&s->wal_copied, __ATOMIC_ACQUIRE)) < 0)
		return;			/* the reader is still copying */
	if (s->wal_frames >= WAL_RESTART_FRAMES && s->wal_frames - done < WAL_TAIL_FRAMES) {
		/* SQLITE_BUSY if a timed checkpoint of the reader's is running: later, then. */
		if (sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames,
		    &copied) == SQLITE_OK && frames == copied)
			s->wal_asked_at = 0;
		return;
	}
	if (s->wal_frames - s->wal_asked_at >= WAL_COPY_FRAMES || s->wal_frames >= WAL_RESTART_FRAMES) {
		struct store_req *r = store_req_new(STORE_CHECKPOINT, 0, 0);
		if (r != NULL) {
			r->index = WAL_ASKED_BY_WRITER;
			__atomic_store_n(&s->wal_copied, -1, __ATOMIC_RELAXED);
			queue_push(&s->reader.q, r);
			s->wal_asked_at = s->wal_frames;
		}
	}
}

/*
 * A clean stop leaves the WAL at the size wal_presize gave it, with one frame in it: every
 * frame is copied into the database (RESTART also waits out readers), then one commit
 * starts the WAL over with new salts, which void the stale frames behind it. The next start
 * reads that one frame, not hundreds of MiB, and writes no zeros. Should the copy not
 * complete, the WAL is kept whole and the next start recovers it, as after a crash.
 */
static void
wal_leave_empty(struct db *db)
{
	char sql[64];
	int frames = 0, copied = 0;

	if (sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_RESTART, &frames,
	    &copied) != SQLITE_OK || frames != copied)
		return;
	/* The smallest commit there is: the layout's number, written again. */
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
	if (db_run(db, sql) != PU_OK)
		log_warn("store", "event=wal-restart-failed");
}

/*
 * Write out what a checkpoint copied into the database file, a slice at a time, each
 * written before the next is started. A commit's fdatasync then waits behind one slice at
 * most: handed to the disk at once, the tens of megabytes of one copy held commits up
 * 10-20 ms. A clean slice costs one quick look at the page cache.
 */
#define DB_WRITE_OUT_SLICE (256 * 1024)

static void
db_write_out(const struct store *s)
{
	struct stat st;

	if (s->db_fd < 0 || fstat(s->db_fd, &st) != 0)
		return;
	/* Only a hint: a failure is no error; SQLite's own sync reports any that matters. */
	for (off_t off = 0; off < st.st_size; off += DB_WRITE_OUT_SLICE)
		(void)sync_file_range(s->db_fd, off, DB_WRITE_OUT_SLICE, SYNC_FILE_RANGE_WAIT_BEFORE |
		    SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
}

/*
 * The reader's checkpoint. SQLite syncs the database only when a pass ends with nothing
 * more in the WAL, which under load is never the reader's: the reader writes out what it
 * copied (db_write_out), so that the sync of the writer's short pass finds little left to
 * write. (An fdatasync here would hold up the commits' own.) Reads wait meanwhile: each
 * WAL_COPY_FRAMES, as long as the disk takes to write what was copied (up to some hundreds
 * of milliseconds on a slow disk; a single unpaced writeback call blocked about as long).
 */
static int
wal_copy(struct store *s, struct db *db, const struct store_req *r)
{
	int frames = 0, copied = 0, rc;

	rc = sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied);
	if (rc == SQLITE_OK && copied > 0)
		db_write_out(s);
	/* SQLITE_BUSY: another checkpoint was running; the writer then asks again. */
	if (r->index == WAL_ASKED_BY_WRITER)
		__atomic_store_n(&s->wal_copied, rc == SQLITE_OK ? copied : 0, __ATOMIC_RELEASE);
	return rc == SQLITE_OK || rc == SQLITE_BUSY ? PU_OK : PU_ERR_STORE;
}

/* ---- reader ------------------------------------------------------------------------ */

/* A reply: who sent the original, about which case, and was the replier a recipient? */
static int
lookup_original(struct db *db, struct store_req *r)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT m.sender, m.case_id, (SELECT COUNT(*) FROM "
	    "deliveries d WHERE d.msg_id = m.msg_id AND d.recipient = ?) FROM messages m "
	    "WHERE m.msg_id = ?");

	if (st == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_text(st, 1, r->agency, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, r->in_reply_to, PU_MSG_ID_LEN, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		r->original_found = 1;
		snprintf(r->original_sender, sizeof(r->original_sender), "%s",
		    (const char *)sqlite3_column_text(st, 0));
		snprintf(r->original_case, sizeof(r->original_case), "%s",
		    (const char *)sqlite3_column_text(st, 1));
		r->original_to_me = sqlite3_column_int(st, 2) > 0;
	}
	db_done(db, st);
	return PU_OK;
}

static int
do_lookup(struct db *db, struct store_req *r)
{
	int rc;

	/* One read transaction: a retry's checkpoint, proof and witnessed note of one state. */
	if (db_run(db, "BEGIN") != PU_OK)
		return PU_ERR_STORE;
	rc = submit_existing(db, r);
	/* Not stored is the common, happy answer. */
	if (rc == PU_ERR_CONFLICT && !r->found)
		rc = PU_OK;
	else if (rc == PU_OK)
		rc = stored_receipt(db, r);
	if (rc == PU_OK && !r->found && r->has_reply)
		rc = lookup_original(db, r);
	if (db_run(db, "COMMIT") != PU_OK)
		db_run(db, "ROLLBACK");
	return rc;
}

static int
do_inbox(struct db *db, struct store_req *r)
{
	sqlite3_stmt *st = db_stmt(db, STORE_INBOX_SQL);
	int rc = PU_OK, step;

	if (st == NULL)
		return PU_ERR_STORE;
	if ((r->entries = calloc(r->limit ? r->limit : 1, sizeof(*r->entries))) == NULL) {
		db_done(db, st);
		return PU_ERR_NOMEM;
	}
	sqlite3_bind_text(st, 1, r->agency, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_s());
	sqlite3_bind_int(st, 3, (int)r->limit);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		inbox_entry_read(st, &r->entries[r->n_entries++]);
	}
	if (step != SQLITE_DONE)
		rc = PU_ERR_STORE;
	db_done(db, st);
	return rc;
}

static int
copy_blob(sqlite3_stmt *st, int col, uint8_t **out, size_t *len)
{
	*len = (size_t)sqlite3_column_bytes(st, col);
	if ((*out = malloc(*len ? *len : 1)) == NULL)
		return PU_ERR_NOMEM;
	if (*len)
		memcpy(*out, sqlite3_column_blob(st, col), *len);
	return PU_OK;
}

static int
do_fetch(struct db *db, struct store_req *r)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT m.header, m.chunk_count, m.accepted_at FROM "
	    "deliveries d JOIN messages m USING (msg_id) WHERE d.msg_id = ? AND d.recipient = ? "
	    "AND d.state < 2");
	int rc = PU_ERR_NOT_QUEUED;

	if (st == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_blob(st, 1, r->msg_id, PU_MSG_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->agency, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		rc = copy_blob(st, 0, &r->header, &r->header_len);
		r->chunk_count = (uint32_t)sqlite3_column_int(st, 1);
		r->accepted_at = sqlite3_column_int64(st, 2);
	}
	db_done(db, st);
	return rc;
}

static int
do_read_chunk(struct store *s, struct db *db, struct store_req *r)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT chunk_count, content_length, body FROM messages "
	    "WHERE msg_id = ?");
	int rc = PU_ERR_NOT_QUEUED;

	if (st == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_blob(st, 1, r->msg_id, PU_MSG_ID_LEN, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		uint32_t count = (uint32_t)sqlite3_column_int(st, 0);
		uint64_t cl = (uint64_t)sqlite3_column_int64(st, 1);
		if (r->index >= count) {
			rc = PU_ERR_CHUNK_EXTRA;
		} else if (count == 1) {
			rc = copy_blob(st, 2, &r->data, &r->data_len);
		} else {
			char path[2200];
			uint64_t plain = r->index + 1 < count ? PU_CHUNK_SIZE :
			    cl - (uint64_t)r->index * PU_CHUNK_SIZE;
			off_t off = (off_t)r->index * (PU_CHUNK_SIZE + PU_CHUNK_ABYTES);
			int fd;
			r->data_len = (size_t)plain + PU_CHUNK_ABYTES;
			spool_path(s, r->msg_id, "msg", path, sizeof(path));
			rc = PU_ERR_IO;
			if ((r->data = malloc(r->data_len)) == NULL)
				rc = PU_ERR_NOMEM;
			else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
				if (pread(fd, r->data, r->data_len, off) == (ssize_t)r->data_len)
					rc = PU_OK;
				close(fd);
			}
		}
	}
	db_done(db, st);
	return rc;
}

/* Column 0 of each row of a bound statement into r->list (at most max rows); done with st after. */
static int
collect_blobs(struct db *db, sqlite3_stmt *st, struct store_req *r, size_t max)
{
	int rc = PU_OK;

	r->list = calloc(max, sizeof(*r->list));
	r->list_len = calloc(max, sizeof(*r->list_len));
	if (r->list == NULL || r->list_len == NULL)
		rc = PU_ERR_NOMEM;
	while (rc == PU_OK && r->n_list < max && sqlite3_step(st) == SQLITE_ROW)
		if ((rc = copy_blob(st, 0, &r->list[r->n_list], &r->list_len[r->n_list])) == PU_OK)
			r->n_list++;
	db_done(db, st);
	return rc;
}

static int
do_receipts(struct db *db, struct store_req *r)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT d.receipt FROM deliveries d JOIN messages m "
	    "USING (msg_id) WHERE d.msg_id = ? AND m.sender = ? AND d.receipt IS NOT NULL "
	    "ORDER BY d.recipient");

	if (st == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_blob(st, 1, r->msg_id, PU_MSG_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->agency, -1, SQLITE_STATIC);
	return collect_blobs(db, st, r, PU_MAX_RECIPIENTS);
}

static int
do_notices(struct db *db, struct store_req *r)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT notice FROM notices WHERE sender = ? AND sent = 0 "
	    "LIMIT 16");

	if (st == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_text(st, 1, r->agency, -1, SQLITE_STATIC);
	return collect_blobs(db, st, r, 16);
}

static int
do_audit_answer(struct db *db, struct store_req *r)
{
	uint8_t *answer;
	size_t len;
	int rc;

	if ((rc = audit_answer(db, r->data, r->data_len, r->audit_index, &answer, &len)) != PU_OK)
		return rc;
	free(r->data);
	r->data = answer;
	r->data_len = len;
	return PU_OK;
}

static int
reader_one(struct store *s, struct db *db, struct store_req *r)
{
	switch (r->kind) {
	case STORE_LOOKUP:
		return do_lookup(db, r);
	case STORE_INBOX:
		return do_inbox(db, r);
	case STORE_FETCH:
		return do_fetch(db, r);
	case STORE_READ_CHUNK:
		return do_read_chunk(s, db, r);
	case STORE_RECEIPTS:
		return do_receipts(db, r);
	case STORE_NOTICES:
		return do_notices(db, r);
	case STORE_CHECKPOINT:
		return wal_copy(s, db, r);
	case STORE_AUDIT_ANSWER:
		return do_audit_answer(db, r);
	case STORE_LOG_HEAD:
		free(r->data);
		r->data = NULL;
		return audit_head(db, r->audit_index, &r->data, &r->data_len);
	default:
		return PU_ERR_INTERNAL;
	}
}

/* ---- spool ------------------------------------------------------------------------- */

static int
spool_one(struct store *s, struct store_req *r)
{
	switch (r->kind) {
	case STORE_CHUNK:
		return write_chunk(s, r);
	case STORE_ABORT:
		part_unlink(s, r);
		return PU_OK;
	default:
		return PU_ERR_INTERNAL;
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct store *s = w->store;
	struct store_req *batch;
	int writer = w->role == WORKER_WRITER;

	while ((batch = queue_take(&w->q, writer ? s->lim.batch_max : 1,
	    writer ? s->lim.delay_us : 0)) != NULL) {
		if (writer) {
			writer_batch(s, &w->db, batch);
			done_push_list(s, batch);
			wal_restart(s, &w->db);	/* after the answers: they need not wait for it */
			continue;
		} else if (w->role == WORKER_READER) {
			batch->rc = reader_one(s, &w->db, batch);
		} else if (w->role == WORKER_HASHER) {
			/* Bytes the sender's manifest does not name never reach the disk. */
			if (batch->kind == STORE_CHUNK && (batch->rc = header_chunk_hash_check(
			    batch->chunk_hash, batch->data, batch->data_len)) != PU_OK) {
				done_push_list(s, batch);
				continue;
			}
			queue_push(&s->spooler.q, batch);
			continue;
		} else {
			batch->rc = spool_one(s, batch);
		}
		done_push_list(s, batch);
	}
	if (writer)
		wal_leave_empty(&w->db);
	return NULL;
}

/* ---- life cycle -------------------------------------------------------------------- */

/* Spool files that no row references are leftovers of a crash or an aborted upload. */
static void
spool_recover(struct store *s)
{
	sqlite3_stmt *st = db_stmt(&s->writer.db, "SELECT 1 FROM messages WHERE msg_id = ?");
	DIR *d = opendir(s->spool);
	struct dirent *e;

	if (st == NULL || d == NULL)
		goto out;
	while ((e = readdir(d)) != NULL) {
		uint8_t id[PU_MSG_ID_LEN];
		size_t id_len;
		char path[2400];
		const char *dot = strchr(e->d_name, '.');
		int keep = 0;

		if (e->d_name[0] == '.' || dot == NULL)
			continue;
		if (strcmp(dot, ".msg") == 0 &&
		    sodium_hex2bin(id, sizeof(id), e->d_name, (size_t)(dot - e->d_name), NULL,
		    &id_len, NULL) == 0 && id_len == PU_MSG_ID_LEN) {
			sqlite3_bind_blob(st, 1, id, PU_MSG_ID_LEN, SQLITE_STATIC);
			keep = sqlite3_step(st) == SQLITE_ROW;
			sqlite3_reset(st);
		}
		if (!keep && snprintf(path, sizeof(path), "%s/%s", s->spool, e->d_name) <
		    (int)sizeof(path))
			unlink(path);
	}
out:
	if (d != NULL)
		closedir(d);
	db_done(&s->writer.db, st);
}

static int
worker_start(struct store *s, struct worker *w, enum worker_role role, const char *db_path)
{
	int rc = PU_OK;

	w->store = s;
	w->role = role;
	if (role == WORKER_WRITER || role == WORKER_READER)
		rc = store_db_open(db_path, &w->db, role == WORKER_WRITER);
	if (rc == PU_OK && role == WORKER_WRITER) {
		rc = audit_open(&s->audit, &w->db, &s->signer.audit);
		sqlite3_wal_hook(w->db.h, on_wal_commit, s);
		if (rc == PU_OK)
			wal_presize(s, db_path);
	}
	if (rc == PU_OK) {
		pthread_mutex_init(&w->q.mu, NULL);
		pthread_cond_init(&w->q.cv, NULL);
		if (pthread_create(&w->thread, NULL, worker_main, w) == 0) {
			/* Named for top -H, perf and gdb; a name that cannot be set changes nothing. */
			static const char *const names[] = {
				[WORKER_WRITER] = "puente-writer", [WORKER_READER] = "puente-reader",
				[WORKER_HASHER] = "puente-hasher", [WORKER_SPOOL] = "puente-spool",
			};
			pthread_setname_np(w->thread, names[role]);
			w->running = 1;
			return PU_OK;
		}
		pthread_cond_destroy(&w->q.cv);
		pthread_mutex_destroy(&w->q.mu);
		rc = PU_ERR_INTERNAL;
	}
	db_close(&w->db);
	return rc;
}

static void
worker_stop(struct worker *w)
{
	if (!w->running)
		return;
	w->running = 0;
	pthread_mutex_lock(&w->q.mu);
	w->q.stopping = 1;
	pthread_cond_broadcast(&w->q.cv);
	pthread_mutex_unlock(&w->q.mu);
	pthread_join(w->thread, NULL);
	db_close(&w->db);
	pthread_cond_destroy(&w->q.cv);
	pthread_mutex_destroy(&w->q.mu);
}

/* Drain and stop the threads, each before the one it hands work on to: the hasher before
 * the spooler, the writer before the reader (it posts WAL copies to it). */
static void
workers_stop(struct store *s)
{
	worker_stop(&s->hasher);
	worker_stop(&s->spooler);
	worker_stop(&s->writer);
	worker_stop(&s->reader);
}

static void on_async_closed(uv_handle_t *h);

int
store_open(struct store **out, const char *data_dir, uv_loop_t *loop,
    const struct store_signer *signer, const struct store_limits *lim,
    store_done_fn done, void *arg)
{
	char db_path[2200];
	struct store *s;
	int rc;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return PU_ERR_NOMEM;
	s->db_fd = -1;
	if (snprintf(s->dir, sizeof(s->dir), "%s", data_dir) >= (int)sizeof(s->dir)) {
		free(s);
		return PU_ERR_TOO_LARGE;
	}
	snprintf(s->spool, sizeof(s->spool), "%s/spool", s->dir);
	snprintf(db_path, sizeof(db_path), "%s/puente.db", s->dir);
	s->signer = *signer;
	s->lim = *lim;
	s->done = done;
	s->done_arg = arg;
	pthread_mutex_init(&s->done_mu, NULL);
	if ((mkdir(s->dir, 0700) != 0 && errno != EEXIST) ||
	    (mkdir(s->spool, 0700) != 0 && errno != EEXIST)) {
		rc = errno_store_error(errno) == PU_ERR_STORE_READONLY ? PU_ERR_STORE_READONLY : PU_ERR_IO;
		goto fail;
	}
	/* Two gateways on one folder would each take the other's uploads for leftovers. */
	snprintf(db_path, sizeof(db_path), "%s/lock", s->dir);
	if ((s->lock_fd = open(db_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		rc = errno_store_error(errno) == PU_ERR_STORE_READONLY ? PU_ERR_STORE_READONLY : PU_ERR_IO;
		goto fail;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		close(s->lock_fd);
		rc = PU_ERR_BUSY;
		goto fail;
	}
	snprintf(db_path, sizeof(db_path), "%s/puente.db", s->dir);
	if (uv_async_init(loop, &s->async, on_async) != 0) {
		rc = PU_ERR_INTERNAL;
		goto fail;
	}
	s->async.data = s;
	if ((rc = store_db_open(db_path, &s->writer.db, 1)) != PU_OK) {
		db_close(&s->writer.db);
		goto fail_async;
	}
	spool_recover(s);
	/*
	 * Kept open until the workers have theirs: the last connection to close copies the
	 * whole WAL into the database, which after a crash would hold the start up (the
	 * reader copies it in the background instead).
	 */
	struct db boot = s->writer.db;
	memset(&s->writer.db, 0, sizeof(s->writer.db));
	/*
	 * Closed only after every connection (closing a file drops all of the process's
	 * POSIX locks on it, SQLite's too). Without it checkpoints merely take longer.
	 */
	s->db_fd = open(db_path, O_RDONLY | O_CLOEXEC);
	if ((rc = worker_start(s, &s->writer, WORKER_WRITER, db_path)) != PU_OK ||
	    (rc = worker_start(s, &s->reader, WORKER_READER, db_path)) != PU_OK ||
	    (rc = worker_start(s, &s->spooler, WORKER_SPOOL, db_path)) != PU_OK ||
	    (rc = worker_start(s, &s->hasher, WORKER_HASHER, db_path)) != PU_OK) {
		workers_stop(s);
		db_close(&boot);
		goto fail_async;
	}
	db_close(&boot);
	*out = s;
	return PU_OK;
fail_async:
	/* The handle is closed by the loop later; s (and its lock) go in its close callback. */
	uv_close((uv_handle_t *)&s->async, on_async_closed);
	return rc;
fail:
	pthread_mutex_destroy(&s->done_mu);
	free(s);
	return rc;
}

static void
on_async_closed(uv_handle_t *h)
{
	struct store *s = h->data;

	if (s->db_fd >= 0)
		close(s->db_fd);
	close(s->lock_fd);
	pthread_mutex_destroy(&s->done_mu);
	free(s);
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	/* Drain: the threads finish what was posted, then stop. */
	s->closing = 1;
	workers_stop(s);
	on_async(&s->async);
	uv_close((uv_handle_t *)&s->async, on_async_closed);
}

void
store_post(struct store *s, struct store_req *r)
{
	/* After store_close has begun, nothing new starts: the gateway is going down. */
	if (s == NULL || s->closing) {
		store_req_free(r);
		return;
	}
	switch (r->kind) {
	case STORE_LOOKUP:
	case STORE_INBOX:
	case STORE_FETCH:
	case STORE_READ_CHUNK:
	case STORE_RECEIPTS:
	case STORE_NOTICES:
	case STORE_CHECKPOINT:
	case STORE_AUDIT_ANSWER:
	case STORE_LOG_HEAD:
		queue_push(&s->reader.q, r);
		break;
	case STORE_CHUNK:
	case STORE_ABORT:
		queue_push(&s->hasher.q, r);
		break;
	default:
		queue_push(&s->writer.q, r);
	}
}

void
store_stats(struct store *s, struct store_stats *out)
{
	out->commits = __atomic_load_n(&s->commits, __ATOMIC_RELAXED);
	out->messages = __atomic_load_n(&s->messages, __ATOMIC_RELAXED);
	out->audit_leaves = __atomic_load_n(&s->leaves, __ATOMIC_RELAXED);
	out->witnessed_at = __atomic_load_n(&s->audit.witnessed_at, __ATOMIC_RELAXED);
}

int
store_each_msg_id(const char *data_dir, void (*fn)(void *, const uint8_t *), void *arg)
{
	char path[2200];
	struct db db;
	sqlite3_stmt *st;
	int rc = PU_ERR_STORE, step;

	snprintf(path, sizeof(path), "%s/puente.db", data_dir);
	if (db_open(&db, path, SQLITE_OPEN_READONLY, NULL) == PU_OK &&
	    (st = db_stmt(&db, "SELECT msg_id FROM messages")) != NULL) {
		while ((step = sqlite3_step(st)) == SQLITE_ROW)
			if (sqlite3_column_bytes(st, 0) == PU_MSG_ID_LEN)
				fn(arg, sqlite3_column_blob(st, 0));
		rc = step == SQLITE_DONE ? PU_OK : PU_ERR_STORE;
	}
	db_close(&db);
	return rc;
}
