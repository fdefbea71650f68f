/*
 * check_error.c - error strings and the version.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#include "testutil.h"

#include <limits.h>

/* Every code smarm can return (smarm(7), smarm_strerror(3), the ERRORS of
 * each call). */
static const int known_codes[] = {
	0,      EINVAL, ESRCH,   ETIMEDOUT, EPIPE,   ENOMEM,
	EAGAIN, EPERM,  EDEADLK, EBUSY,     ENOTSUP, SMARM_EPANIC,
	ECANCELED, EOWNERDEAD, EBADF, ECONNRESET, ECONNREFUSED, EMFILE,
	EISCONN, ENETUNREACH,
};
#define NKNOWN ((int)(sizeof(known_codes) / sizeof(known_codes[0])))

START_TEST(test_strerror_known)
{
	int i, j;

	ck_assert_str_eq(smarm_strerror(0), "Success");
	for (i = 0; i < NKNOWN; i++) {
		const char *s = smarm_strerror(known_codes[i]);

		ck_assert_msg(s != NULL, "smarm_strerror(%d) is NULL",
			      known_codes[i]);
		ck_assert_msg(s[0] != '\0', "smarm_strerror(%d) is empty",
			      known_codes[i]);
		ck_assert_msg(strcmp(s, "Unknown error") != 0,
			      "smarm_strerror(%d) is \"Unknown error\"",
			      known_codes[i]);
		/* a static string: the same text every time */
		ck_assert_str_eq(smarm_strerror(known_codes[i]), s);
		for (j = 0; j < i; j++)
			ck_assert_msg(strcmp(s, smarm_strerror(known_codes[j]))
					      != 0,
				      "codes %d and %d share the string \"%s\"",
				      known_codes[i], known_codes[j], s);
	}
}
END_TEST

START_TEST(test_strerror_unknown)
{
	static const int unknown[] = {
		-1, -2, -EINVAL, -SMARM_EPANIC, INT_MIN, INT_MIN + 1, INT_MAX,
		5000, 9999, 10000, 20000, 65536, 1000000, 0x7fff0000,
	};
	size_t i;

	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		const char *s = smarm_strerror(unknown[i]);

		ck_assert_msg(s != NULL, "smarm_strerror(%d) is NULL",
			      unknown[i]);
		ck_assert_msg(strcmp(s, "Unknown error") == 0,
			      "smarm_strerror(%d) is \"%s\"", unknown[i], s);
	}
}
END_TEST

START_TEST(test_strerror_never_null)
{
	int e;

	for (e = -300; e <= 12000; e++) {
		const char *s = smarm_strerror(e);

		ck_assert_msg(s != NULL, "smarm_strerror(%d) is NULL", e);
		ck_assert_msg(s[0] != '\0', "smarm_strerror(%d) is empty", e);
	}
}
END_TEST

/* smarm_strerror works inside an actor too. */
static void *strerror_in_actor(void *arg)
{
	(void)arg;
	return (void *)smarm_strerror(SMARM_EPANIC);
}

START_TEST(test_strerror_in_actor)
{
	void *res = NULL;

	ck_assert_int_eq(run_default(strerror_in_actor, NULL, &res), 0);
	ck_assert_ptr_nonnull(res);
	ck_assert_str_eq((const char *)res, smarm_strerror(SMARM_EPANIC));
}
END_TEST

START_TEST(test_version)
{
	char want[32];

	ck_assert_uint_eq(smarm_version(), SMARM_VERSION_HEX);
	ck_assert_uint_eq(smarm_version() >> 16, SMARM_VERSION_MAJOR);
	ck_assert_uint_eq((smarm_version() >> 8) & 0xff, SMARM_VERSION_MINOR);
	ck_assert_uint_eq(smarm_version() & 0xff, SMARM_VERSION_PATCH);

	snprintf(want, sizeof(want), "%d.%d.%d", SMARM_VERSION_MAJOR,
		 SMARM_VERSION_MINOR, SMARM_VERSION_PATCH);
	ck_assert_ptr_nonnull(smarm_version_string());
	ck_assert_str_eq(smarm_version_string(), want);
}
END_TEST

static Suite *error_suite(void)
{
	Suite *s = suite_create("error");
	TCase *tc;

	tc = tcase_add(s, "strerror");
	tcase_add_test(tc, test_strerror_known);
	tcase_add_test(tc, test_strerror_unknown);
	tcase_add_test(tc, test_strerror_never_null);
	tcase_add_test(tc, test_strerror_in_actor);

	tc = tcase_add(s, "version");
	tcase_add_test(tc, test_version);

	return s;
}

int main(void)
{
	return run_suite(error_suite());
}
