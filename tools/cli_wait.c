/* The write-lock watchdog of the CLI's write commands. LMDB lets one writer at a time into a
 * store: a second one blocks in mdb_txn_begin (a robust mutex in lock.mdb, which has no timed
 * form) for as long as the first holds its transaction, even if that process is stopped. The
 * commands arm the watchdog just before each step that takes the write lock (opening a store
 * read-write, beginning a write transaction, a store writer owning its transaction) and disarm
 * it just after. One thread, started on the first arming, sleeps on a condition variable (no
 * polling): if a step stays armed for a second it says on stderr that it is waiting and why;
 * with `--wait SECONDS` it gives up when the limit passes, and exits the process with status 1
 * (nothing has been written yet while the lock is being waited for). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/cli.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static bool started, armed;
static unsigned long generation;
static double limit = -1; /* seconds; < 0: wait as long as it takes */
static struct timespec since;
static char command[32], store[512];

static struct timespec after(struct timespec t, double seconds)
{
	double whole = (double)(long)seconds;
	t.tv_sec += (time_t)whole;
	t.tv_nsec += (long)((seconds - whole) * 1e9);
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* Under mu: wait until the arming of generation g ends or deadline passes; true if it still
 * holds at the deadline. */
static bool still_armed_at(unsigned long g, struct timespec deadline)
{
	while (armed && generation == g)
		if (pthread_cond_timedwait(&cv, &mu, &deadline) == ETIMEDOUT)
			break;
	return armed && generation == g;
}

static void *watch(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;) {
		while (!armed)
			pthread_cond_wait(&cv, &mu);
		unsigned long g = generation;
		double first = limit >= 0 && limit < 1 ? limit : 1;
		if (!still_armed_at(g, after(since, first)))
			continue;
		fprintf(stderr,
		        "larder %s: waiting for the write lock on '%s' (another process is "
		        "writing to the store; LMDB lets one writer in at a time)\n",
		        command, store);
		if (limit < 0) {
			while (armed && generation == g)
				pthread_cond_wait(&cv, &mu);
			continue;
		}
		if (still_armed_at(g, after(since, limit))) {
			fprintf(stderr,
			        "larder %s: gave up waiting for the write lock on '%s' after %g s "
			        "(--wait): another process still holds it\n",
			        command, store, limit);
			fflush(stderr);
			_exit(CLI_FAIL);
		}
	}
	return NULL;
}

int cli_wait_option(const char *argv0, const char *val)
{
	char *end;
	errno = 0;
	double v = strtod(val, &end);
	if (errno || end == val || *end || !(v > 0) || v > 1e9) {
		fprintf(stderr, "larder %s: --wait '%s': want a number of seconds > 0\n", argv0,
		        val);
		return -1;
	}
	limit = v;
	return 0;
}

void cli_wait_arm(const char *path)
{
	pthread_mutex_lock(&mu);
	if (!started) {
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&cv, &ca);
		pthread_condattr_destroy(&ca);
		pthread_t th;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		/* without the thread the command still works, silently, as LMDB alone would */
		started = pthread_create(&th, &a, watch, NULL) == 0;
		pthread_attr_destroy(&a);
		if (!started) {
			pthread_mutex_unlock(&mu);
			return;
		}
	}
	snprintf(command, sizeof command, "%s", cli_command ? cli_command : "");
	snprintf(store, sizeof store, "%s", path);
	clock_gettime(CLOCK_MONOTONIC, &since);
	armed = true;
	generation++;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
}

void cli_wait_disarm(void)
{
	pthread_mutex_lock(&mu);
	if (armed) {
		armed = false;
		generation++;
		pthread_cond_signal(&cv);
	}
	pthread_mutex_unlock(&mu);
}
