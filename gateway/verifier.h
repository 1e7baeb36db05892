/*
 * verifier.h - Ed25519 signature checks on a thread beside the loop.
 *
 * The loop posts a job for each header signature it reads ahead of its turn; the thread
 * takes the newest job first, the loop the one it needs next (verifier_claim), so the two
 * meet in the middle of a session's backlog and a signature is never checked twice. The
 * loop is woken (uv_async, then done(job) on the loop) only for a job it found running
 * when it needed it; any other it finds done when it gets there.
 *
 * Ownership: the loop allocates a job and posts it; it is the verifier's until done()
 * or a successful verifier_claim hands it back. An owner that goes away releases its jobs
 * (verifier_release): one being checked is freed when it comes back.
 */
#ifndef PU_VERIFIER_H
#define PU_VERIFIER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_RETURNED };

struct sig_job {
	/* Set by the loop before verifier_post. */
	uint8_t pk[32];
	uint8_t sig[64];
	uint8_t *msg;			/* the signed bytes; freed with the job */
	size_t msg_len;
	void *owner;
	/* Under the verifier's lock. */
	int orphaned;			/* the owner left while the thread checked it */
	int awaited;			/* the loop waits: done() when it is back */
	/* The verifier's. */
	int rc;				/* PU_OK or PU_ERR_SIGNATURE, once JOB_RETURNED */
	enum job_state state;		/* under the verifier's lock until JOB_RETURNED */
	struct sig_job *prev, *next;
};

struct verifier {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	uv_async_t async;
	struct sig_job *queued_head, *queued_tail;	/* oldest first */
	struct sig_job *done_head, *done_tail;
	int idle;			/* the thread waits on wake */
	int stop;
	int running;			/* the thread is there */
	int initialized;
	void (*done)(struct sig_job *);
};

/* Without its thread (PU_ERR_INTERNAL) every check stays on the loop: verifier_claim makes it. */
int verifier_start(struct verifier *v, uv_loop_t *loop, void (*done)(struct sig_job *));
/* Join the thread and close the async; jobs not back are handed back unchecked. */
void verifier_stop(struct verifier *v);
/* Once every owner has released its jobs. */
void verifier_free(struct verifier *v);
void verifier_post(struct verifier *v, struct sig_job *j);
/*
 * The loop needs j's result now: 1 when j is back (checked here if it had not begun,
 * or taken from the finished ones), 0 while the thread is checking it.
 */
int verifier_claim(struct verifier *v, struct sig_job *j);
/* An owner leaving: frees j if it is back, else marks it for the verifier to free. */
void verifier_release(struct verifier *v, struct sig_job *j);

#endif
