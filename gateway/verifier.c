/* verifier.c - Ed25519 signature checks on a thread beside the loop (see verifier.h). */
#define _GNU_SOURCE	/* pthread_setname_np */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "pu_err.h"
#include "verifier.h"

static void
job_free(struct sig_job *j)
{
	free(j->msg);
	free(j);
}

static int
job_check(const struct sig_job *j)
{
	return crypto_sign_verify_detached(j->sig, j->msg, j->msg_len, j->pk) == 0 ?
	    PU_OK : PU_ERR_SIGNATURE;
}

static void
list_append(struct sig_job **head, struct sig_job **tail, struct sig_job *j)
{
	j->next = NULL;
	j->prev = *tail;
	if (*tail != NULL)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

static void
list_unlink(struct sig_job **head, struct sig_job **tail, struct sig_job *j)
{
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		*head = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	else
		*tail = j->prev;
	j->prev = j->next = NULL;
}

static void *
verifier_main(void *arg)
{
	struct verifier *v = arg;

	pthread_mutex_lock(&v->lock);
	while (!v->stop) {
		struct sig_job *j = v->queued_tail;
		if (j == NULL) {
			v->idle = 1;
			pthread_cond_wait(&v->wake, &v->lock);
			v->idle = 0;
			continue;
		}
		/* The newest: the loop claims from the oldest end, the one it needs next. */
		list_unlink(&v->queued_head, &v->queued_tail, j);
		j->state = JOB_RUNNING;
		pthread_mutex_unlock(&v->lock);
		int rc = job_check(j);
		pthread_mutex_lock(&v->lock);
		j->rc = rc;
		j->state = JOB_DONE;
		if (j->orphaned) {
			pthread_mutex_unlock(&v->lock);
			job_free(j);
			pthread_mutex_lock(&v->lock);
		} else if (j->awaited) {
			/* The loop waits for this one; the others it finds done when it gets there. */
			list_append(&v->done_head, &v->done_tail, j);
			uv_async_send(&v->async);
		}
	}
	pthread_mutex_unlock(&v->lock);
	return NULL;
}

static void
on_async(uv_async_t *a)
{
	struct verifier *v = a->data;

	/*
	 * One at a time: done() may release other jobs of the same session, which must then
	 * still be in the list for verifier_release to find.
	 */
	for (;;) {
		pthread_mutex_lock(&v->lock);
		struct sig_job *j = v->done_head;
		if (j != NULL) {
			list_unlink(&v->done_head, &v->done_tail, j);
			j->state = JOB_RETURNED;
		}
		pthread_mutex_unlock(&v->lock);
		if (j == NULL)
			return;
		v->done(j);
	}
}

int
verifier_start(struct verifier *v, uv_loop_t *loop, void (*done)(struct sig_job *))
{
	memset(v, 0, sizeof(*v));
	v->done = done;
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->wake, NULL);
	v->initialized = 1;
	if (uv_async_init(loop, &v->async, on_async) != 0)
		return PU_ERR_INTERNAL;
	v->async.data = v;
	if (pthread_create(&v->thread, NULL, verifier_main, v) != 0) {
		uv_close((uv_handle_t *)&v->async, NULL);
		return PU_ERR_INTERNAL;
	}
	/* Named for top -H, perf and gdb; a name that cannot be set changes nothing. */
	pthread_setname_np(v->thread, "puente-verify");
	v->running = 1;
	return PU_OK;
}

void
verifier_stop(struct verifier *v)
{
	struct sig_job *j;

	if (!v->running)
		return;
	pthread_mutex_lock(&v->lock);
	v->stop = 1;
	pthread_cond_signal(&v->wake);
	pthread_mutex_unlock(&v->lock);
	pthread_join(v->thread, NULL);
	v->running = 0;
	uv_close((uv_handle_t *)&v->async, NULL);
	/* What it still holds goes back unchecked: its owners are closing and free it. */
	while ((j = v->queued_head) != NULL) {
		list_unlink(&v->queued_head, &v->queued_tail, j);
		j->state = JOB_RETURNED;
		j->rc = PU_ERR_SHUTTING_DOWN;
	}
	while ((j = v->done_head) != NULL) {
		list_unlink(&v->done_head, &v->done_tail, j);
		j->state = JOB_RETURNED;
	}
}

void
verifier_free(struct verifier *v)
{
	if (!v->initialized)
		return;
	pthread_cond_destroy(&v->wake);
	pthread_mutex_destroy(&v->lock);
	v->initialized = 0;
}

void
verifier_post(struct verifier *v, struct sig_job *j)
{
	pthread_mutex_lock(&v->lock);
	j->state = JOB_QUEUED;
	list_append(&v->queued_head, &v->queued_tail, j);
	if (v->idle) {
		v->idle = 0;	/* one signal is enough until it waits again */
		pthread_cond_signal(&v->wake);
	}
	pthread_mutex_unlock(&v->lock);
}

int
verifier_claim(struct verifier *v, struct sig_job *j)
{
	pthread_mutex_lock(&v->lock);
	switch (j->state) {
	case JOB_QUEUED:
		/* Not begun: the loop checks it itself rather than wait for the thread. */
		list_unlink(&v->queued_head, &v->queued_tail, j);
		j->state = JOB_RETURNED;
		pthread_mutex_unlock(&v->lock);
		j->rc = job_check(j);
		return 1;
	case JOB_DONE:
		if (j->awaited)
			list_unlink(&v->done_head, &v->done_tail, j);
		j->state = JOB_RETURNED;
		pthread_mutex_unlock(&v->lock);
		return 1;
	case JOB_RUNNING:
		j->awaited = 1;	/* the thread wakes the loop when it is done */
		pthread_mutex_unlock(&v->lock);
		return 0;
	case JOB_RETURNED:
		break;
	}
	pthread_mutex_unlock(&v->lock);
	return 1;
}

void
verifier_release(struct verifier *v, struct sig_job *j)
{
	if (j == NULL)
		return;
	pthread_mutex_lock(&v->lock);
	switch (j->state) {
	case JOB_QUEUED:
		list_unlink(&v->queued_head, &v->queued_tail, j);
		break;
	case JOB_DONE:
		if (j->awaited)
			list_unlink(&v->done_head, &v->done_tail, j);
		break;
	case JOB_RUNNING:
		/* The thread has it, and frees it when it is done. */
		j->orphaned = 1;
		pthread_mutex_unlock(&v->lock);
		return;
	case JOB_RETURNED:
		break;
	}
	pthread_mutex_unlock(&v->lock);
	job_free(j);
}
