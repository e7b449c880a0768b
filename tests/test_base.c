/* base: error codes, thread-local messages, version, allocation fault injection. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include <larder.h>

Test(base, every_code_has_a_name_and_description)
{
#define X(name, value, desc)                                                                       \
	cr_expect_str_eq(lrd_errname(LRD_##name), "LRD_" #name);                                   \
	cr_expect_str_eq(lrd_strerror(LRD_##name), desc);
	LRD_ERRORS(X)
#undef X
	cr_expect_str_eq(lrd_strerror(12345), "unknown error");
	cr_expect_str_eq(lrd_errname(-1), "LRD_UNKNOWN");
}

Test(base, codes_are_negative_and_in_their_band)
{
#define X(name, value, desc) cr_expect(value == 0 || (value <= -30900 && value > -31000), #name);
	LRD_ERRORS(X)
#undef X
}

static void *other_thread(void *arg)
{
	lrd_error_set(LRD_EIO, "from the other thread");
	return NULL;
}

Test(base, errmsg_is_thread_local)
{
	cr_assert_eq(lrd_error_set(LRD_ECORRUPT, "chunk %d of '%s'", 17, "weights"), LRD_ECORRUPT);
	pthread_t t;
	pthread_create(&t, NULL, other_thread, NULL);
	pthread_join(t, NULL);
	cr_expect_str_eq(lrd_errmsg(), "chunk 17 of 'weights'");
}

Test(base, long_messages_are_truncated_not_overflowed)
{
	char big[2000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	lrd_error_set(LRD_EIO, "%s", big);
	cr_expect_eq(strlen(lrd_errmsg()), 511);
}

Test(base, version_matches_macros)
{
	cr_expect_str_eq(lrd_version_string(), LRD_VERSION_STRING);
	cr_expect_eq(lrd_version_number(), LRD_VERSION_NUMBER);
}
