/* Progress output of a map with verbose > 0, on stderr, in joblib's words:
 *
 *   [Parallel(n_jobs=2)]: Using backend threads with 2 concurrent workers.
 *   [Parallel(n_jobs=2)]: Done   1 tasks      | elapsed:    0.0s
 *   [Parallel(n_jobs=2)]: Done  12 out of  12 | elapsed:    2.3s finished
 *
 * Intermediate lines come when the count of done tasks passes 1, 2, 4, 8, … (every collected
 * batch from verbose 10). When stderr is a terminal, one line is redrawn instead, at most five
 * times a second, with a bar, the rate and an ETA. Only the map's own thread writes it. */
#include <stdio.h>
#include <unistd.h>

#include "parallel/parallel_internal.h"

void lrd__par_progress_start(lrd__par_progress *p, int verbose, int n_jobs, const char *backend,
                             size_t total)
{
	*p = (lrd__par_progress){
	    .verbose = verbose, .n_jobs = n_jobs, .total = total, .next_report = 1};
	if (!verbose)
		return;
	p->tty = isatty(STDERR_FILENO) == 1;
	p->t0 = lrd__par_now();
	if (!p->tty)
		fprintf(stderr,
		        "[Parallel(n_jobs=%d)]: Using backend %s with %d concurrent workers.\n",
		        n_jobs, backend, n_jobs);
}

static void draw(lrd__par_progress *p, double now)
{
	double el = now - p->t0;
	double rate = el > 0 ? (double)p->done / el : 0;
	double eta = rate > 0 ? (double)(p->total - p->done) / rate : 0;
	char bar[21];
	size_t fill = p->total ? p->done * 20 / p->total : 20;
	for (size_t i = 0; i < 20; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[20] = 0;
	fprintf(stderr, "\r[Parallel(n_jobs=%d)] [%s] %zu/%zu %3zu%% | %.0f tasks/s | ETA %.1fs  ",
	        p->n_jobs, bar, p->done, p->total, p->total ? p->done * 100 / p->total : 100, rate,
	        eta);
	p->last_draw = now;
}

void lrd__par_progress_update(lrd__par_progress *p, size_t done, bool force)
{
	if (!p->verbose)
		return;
	p->done = done;
	double now = lrd__par_now();
	if (p->tty) {
		if (force || now - p->last_draw >= 0.2)
			draw(p, now);
		return;
	}
	if (done >= p->total)
		return; /* the final line says it */
	if (p->verbose >= 10 || done >= p->next_report) {
		fprintf(stderr, "[Parallel(n_jobs=%d)]: Done %3zu tasks      | elapsed: %6.1fs\n",
		        p->n_jobs, done, now - p->t0);
		while (p->next_report <= done)
			p->next_report *= 2;
	}
}

void lrd__par_progress_finish(lrd__par_progress *p, bool ok)
{
	if (!p->verbose)
		return;
	double now = lrd__par_now();
	if (p->tty) {
		draw(p, now);
		fputc('\n', stderr);
	}
	if (ok)
		fprintf(stderr,
		        "[Parallel(n_jobs=%d)]: Done %3zu out of %3zu | elapsed: %6.1fs finished\n",
		        p->n_jobs, p->total, p->total, now - p->t0);
	else
		fprintf(stderr,
		        "[Parallel(n_jobs=%d)]: Stopped after %zu out of %zu | elapsed: %6.1fs\n",
		        p->n_jobs, p->done, p->total, now - p->t0);
	p->verbose = 0;
}
