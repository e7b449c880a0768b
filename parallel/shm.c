/* Large payloads between the processes backend's parent and workers without a store: a value's
 * frame written once into a sealed memfd, the descriptor passed over the socket (SCM_RIGHTS),
 * and the receiver's arrays mapped over it read-only, unmapped with the last of them. One copy
 * in all, where a socket costs two and a fresh buffer's page faults. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "larder/message.h"
#include "parallel/parallel_internal.h"

int lrd__par_shm_put(const lrd_value *v, int *fd, uint64_t *len)
{
	size_t n;
	int rc = lrd_value_encode_into(v, NULL, NULL, 0, &n);
	if (rc != LRD_EBUFSIZE)
		return rc ? rc : lrd__err(LRD_EINVAL, "an empty message");
	int f = memfd_create("lrd.parallel", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (f < 0)
		return lrd__err(LRD_EIO, "memfd_create: %s", strerror(errno));
	void *p = MAP_FAILED;
	if (ftruncate(f, (off_t)n) == 0)
		p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
	if (p == MAP_FAILED) {
		rc = lrd__err(errno == ENOMEM || errno == ENOSPC ? LRD_ENOMEM : LRD_EIO,
		              "shared memory for a %zu-byte payload: %s", n, strerror(errno));
		close(f);
		return rc;
	}
	rc = lrd_value_encode_into(v, NULL, p, n, &n);
	munmap(p, n);
	/* the receiver maps what it was given: it can neither change nor shrink under it */
	if (!rc && fcntl(f, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL))
		rc = lrd__err(LRD_EIO, "sealing a shared payload: %s", strerror(errno));
	if (rc) {
		close(f);
		return rc;
	}
	*fd = f;
	*len = n;
	return LRD_OK;
}

typedef struct shm_map {
	void *p;
	size_t len;
} shm_map;

static void shm_unmap(void *ctx)
{
	shm_map *m = ctx;
	munmap(m->p, m->len);
	free(m);
}

int lrd__par_shm_get(int fd, uint64_t len, lrd_value **v)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);
	if (fstat(fd, &st) || seals < 0 || !(seals & F_SEAL_SHRINK) ||
	    (uint64_t)st.st_size != len || len > SIZE_MAX)
		return lrd__err(LRD_ECORRUPT,
		                "shared payload descriptor is not a sealed %llu-byte memfd",
		                (unsigned long long)len);
	shm_map *m = malloc(sizeof *m);
	if (!m)
		return lrd__err(LRD_ENOMEM, "out of memory");
	m->len = (size_t)len;
	m->p = mmap(NULL, m->len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (m->p == MAP_FAILED) {
		free(m);
		return lrd__err(LRD_ENOMEM, "mapping a %llu-byte shared payload: %s",
		                (unsigned long long)len, strerror(errno));
	}
	lrd_decode_options o = {.flags = LRD_DECODE_BORROW, .release = shm_unmap, .release_ctx = m};
	return lrd_value_decode(m->p, m->len, &o, v);
}

int lrd__par_send_fds(int sock, const void *p, size_t n, const int *fds, unsigned nfds)
{
	const char *c = p;
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int) * LRD__PAR_MAX_FDS)];
	} ctl;
	while (n) {
		struct iovec iov = {.iov_base = (void *)c, .iov_len = n};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		if (nfds) { /* with the first bytes only */
			memset(&ctl, 0, sizeof ctl);
			mh.msg_control = ctl.space;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
		}
		ssize_t k = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return lrd__err(LRD_EIO, "writing to a worker socket: %s", strerror(errno));
		nfds = 0;
		c += k;
		n -= (size_t)k;
	}
	return LRD_OK;
}

int lrd__par_recv_fds(int sock, void *p, size_t n, lrd__par_fdlist *got)
{
	char *c = p;
	size_t have = 0;
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int) * LRD__PAR_MAX_FDS)];
	} ctl;
	while (have < n) {
		struct iovec iov = {.iov_base = c + have, .iov_len = n - have};
		struct msghdr mh = {.msg_iov = &iov,
		                    .msg_iovlen = 1,
		                    .msg_control = ctl.space,
		                    .msg_controllen = sizeof ctl.space};
		ssize_t k = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (k < 0 && errno == EINTR)
			continue;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); k >= 0 && cm;
		     cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			size_t m = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < m; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
				if (got->n < LRD__PAR_MAX_FDS)
					got->fd[got->n++] = fd;
				else
					close(fd);
			}
		}
		if (k > 0 && (mh.msg_flags & MSG_CTRUNC))
			return -1;
		if (k <= 0)
			return have == 0 && k == 0 ? 0 : -1;
		have += (size_t)k;
	}
	return 1;
}

void lrd__par_fdlist_close(lrd__par_fdlist *l)
{
	for (unsigned i = l->next; i < l->n; i++)
		close(l->fd[i]);
	l->n = l->next = 0;
}
