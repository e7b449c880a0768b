/* A map with a memo attached (lrd_parallel_options.memo): inputs already cached are loaded
 * here, in the calling thread, and never dispatched; the rest go through an ordinary map
 * (without the memo) and each result is then stored through lrd_memo_call() with a function
 * that hands back a copy of what the map computed. Only the public memo API is used, so the
 * memo's own rules hold: damaged entries are misses, a full store still returns the result.
 *
 * Between the check and the load an entry can be evicted or expire; lrd_memo_call() then runs
 * the task here, in the calling thread, so the result is right either way. */
#include <stdlib.h>
#include <string.h>

#include "larder/memo.h"
#include "parallel/parallel_internal.h"

typedef struct {
	lrd_task_fn task;
	void *ctx;
	const lrd_value *computed; /* set while storing a result the map computed */
} attach;

static int memo_fn(const lrd_value *args, lrd_value **result, void *ctx)
{
	attach *a = ctx;
	if (a->computed)
		return lrd_value_clone(a->computed, result);
	return a->task(a->ctx, args, result);
}

int lrd__par_map_memo(const lrd_parallel_options *opts, const char *task, void *ctx,
                      const lrd_value *const *inputs, size_t n, lrd_value **outputs)
{
	attach a = {.ctx = ctx};
	int rc = lrd_task_find(task, &a.task);
	if (rc)
		return rc;
	lrd_memo_func f = {.name = task, .version = opts->memo_version, .fn = memo_fn};
	size_t *miss = n ? malloc(n * sizeof *miss) : NULL;
	const lrd_value **miss_in = n ? malloc(n * sizeof *miss_in) : NULL;
	lrd_value **miss_out = n ? calloc(n, sizeof *miss_out) : NULL;
	if (n && (!miss || !miss_in || !miss_out)) {
		rc = lrd__err(LRD_ENOMEM, "parallel map with a memo: %zu inputs", n);
		goto out;
	}
	size_t nmiss = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		rc = lrd_memo_contains(opts->memo, &f, inputs[i], &a);
		if (rc == 1)
			rc = lrd_memo_call(opts->memo, &f, inputs[i], &a, &outputs[i], NULL);
		else if (rc == 0) {
			miss[nmiss] = i;
			miss_in[nmiss++] = inputs[i];
		}
	}
	if (!rc && nmiss) {
		lrd_parallel_options o = *opts;
		o.memo = NULL;
		o.memo_version = NULL;
		rc = lrd_parallel_map(&o, task, ctx, miss_in, nmiss, miss_out);
	}
	for (size_t j = 0; j < nmiss && !rc; j++) {
		lrd_value *stored = NULL;
		a.computed = miss_out[j];
		/* The memo's copy is dropped: the map's own result is the output either way. */
		if (lrd_memo_call(opts->memo, &f, miss_in[j], &a, &stored, NULL) == LRD_OK)
			lrd_value_free(stored);
		outputs[miss[j]] = miss_out[j];
		miss_out[j] = NULL;
	}
out:
	if (miss_out)
		for (size_t j = 0; j < n; j++)
			lrd_value_free(miss_out[j]);
	free(miss);
	free(miss_in);
	free(miss_out);
	for (size_t i = 0; i < n && rc; i++) {
		lrd_value_free(outputs[i]);
		outputs[i] = NULL;
	}
	return rc;
}
