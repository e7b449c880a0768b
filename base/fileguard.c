/* A process-wide list of (st_dev, st_ino) of the files open stores map and lock (counted):
 * an output opened by path onto one of them is refused before anything is written, so no
 * command can truncate a mapped store file under itself (engine/io/io.c checks,
 * engine/store/store_file.c registers). Protected by one mutex; uses libc malloc so that the
 * test allocator hooks never make the safety net fail. */
#include <pthread.h>
#include <stdlib.h>

#include "base/base.h"

static pthread_mutex_t guard_mu = PTHREAD_MUTEX_INITIALIZER;
static struct guard {
	dev_t dev;
	ino_t ino;
	unsigned refs;
} * guards;
static size_t nguards, capguards;

void lrd__guard_add(dev_t dev, ino_t ino)
{
	pthread_mutex_lock(&guard_mu);
	size_t i = 0;
	while (i < nguards && !(guards[i].dev == dev && guards[i].ino == ino))
		i++;
	if (i < nguards) {
		guards[i].refs++;
	} else {
		if (nguards == capguards) {
			size_t cap = capguards ? 2 * capguards : 8;
			struct guard *g = realloc(guards, cap * sizeof *g);
			if (!g) { /* the check is a safety net; without memory it is skipped */
				pthread_mutex_unlock(&guard_mu);
				return;
			}
			guards = g;
			capguards = cap;
		}
		guards[nguards++] = (struct guard){dev, ino, 1};
	}
	pthread_mutex_unlock(&guard_mu);
}

void lrd__guard_del(dev_t dev, ino_t ino)
{
	pthread_mutex_lock(&guard_mu);
	for (size_t i = 0; i < nguards; i++)
		if (guards[i].dev == dev && guards[i].ino == ino) {
			if (--guards[i].refs == 0)
				guards[i] = guards[--nguards];
			if (nguards == 0) {
				free(guards);
				guards = NULL;
				capguards = 0;
			}
			break;
		}
	pthread_mutex_unlock(&guard_mu);
}

bool lrd__guarded(dev_t dev, ino_t ino)
{
	bool hit = false;
	pthread_mutex_lock(&guard_mu);
	for (size_t i = 0; i < nguards && !hit; i++)
		hit = guards[i].dev == dev && guards[i].ino == ino;
	pthread_mutex_unlock(&guard_mu);
	return hit;
}
