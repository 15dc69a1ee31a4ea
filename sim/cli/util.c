/*
 * Small pieces the program's modules share: "did you mean" suggestions
 * by edit distance, the errno names a scenario may expect, reading the
 * key=value arguments of a trace event, and allocation helpers that end
 * the program when memory runs out (the program may; the library never).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim/cli/cli.h"

void *cli_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fprintf(stderr, "iommufd-sim: out of memory\n");
		exit(2);
	}
	return p;
}

char *cli_xstrndup(const char *s, size_t n)
{
	char *d = cli_xrealloc(NULL, n + 1);

	memcpy(d, s, n);
	d[n] = 0;
	return d;
}

char *cli_xstrdup(const char *s)
{
	return cli_xstrndup(s, strlen(s));
}

/* Optimal string alignment distance, case-insensitive. */
static unsigned edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned *d, r;

	if (la > 64 || lb > 64)
		return 99;
	d = cli_xrealloc(NULL, (la + 1) * (lb + 1) * sizeof(*d));
#define D(i, j) d[(i) * (lb + 1) + (j)]
	for (size_t i = 0; i <= la; i++)
		D(i, 0) = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		D(0, j) = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			int ca = tolower((unsigned char)a[i - 1]);
			int cb = tolower((unsigned char)b[j - 1]);
			unsigned best = D(i - 1, j - 1) + (ca != cb);

			if (D(i - 1, j) + 1 < best)
				best = D(i - 1, j) + 1;
			if (D(i, j - 1) + 1 < best)
				best = D(i, j - 1) + 1;
			if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb &&
			    D(i - 2, j - 2) + 1 < best)
				best = D(i - 2, j - 2) + 1;
			D(i, j) = best;
		}
	}
	r = D(la, lb);
#undef D
	free(d);
	return r;
}

void cli_suggest_init(struct cli_suggest *s, const char *word)
{
	memset(s, 0, sizeof(*s));
	s->word = word;
}

void cli_suggest_add(struct cli_suggest *s, const char *cand)
{
	size_t len = strlen(s->word);
	unsigned limit = len < 6 ? 2 : (unsigned)len / 3 + 1;
	unsigned d = edit_distance(s->word, cand);

	size_t clen = strlen(cand);

	/* A word that starts the candidate, or ends it after a '_', is
	 * close too (FIXED_IOVA for IOMMU_IOAS_MAP_FIXED_IOVA). */
	if (len >= 3 && (!strncasecmp(s->word, cand, len) ||
			 (clen > len && cand[clen - len - 1] == '_' &&
			  !strcasecmp(s->word, cand + clen - len))))
		d = d < limit ? d : limit;
	if (d > limit)
		return;
	for (unsigned i = 0; i < 3; i++) {
		if (s->best[i] && !strcmp(s->best[i], cand))
			return;
	}
	for (unsigned i = 0; i < 3; i++) {
		if (!s->best[i] || d < s->dist[i]) {
			for (unsigned j = 2; j > i; j--) {
				s->best[j] = s->best[j - 1];
				s->dist[j] = s->dist[j - 1];
			}
			s->best[i] = cand;
			s->dist[i] = d;
			return;
		}
	}
}

const char *cli_suggest_text(const struct cli_suggest *s, char *buf,
			     size_t len)
{
	unsigned n = 0;

	while (n < 3 && s->best[n])
		n++;
	if (!n)
		snprintf(buf, len, "%s", "");
	else if (n == 1)
		snprintf(buf, len, "; did you mean %s?", s->best[0]);
	else if (n == 2)
		snprintf(buf, len, "; did you mean %s or %s?", s->best[0],
			 s->best[1]);
	else
		snprintf(buf, len, "; did you mean %s, %s or %s?", s->best[0],
			 s->best[1], s->best[2]);
	return buf;
}

#define E(x) { #x, x }
static const struct {
	const char *name;
	int err;
} errnos[] = {
	E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(ENXIO),
	E(E2BIG), E(EBADF), E(EAGAIN), E(ENOMEM), E(EACCES), E(EFAULT),
	E(EBUSY), E(EEXIST), E(ENODEV), E(EINVAL), E(ENOSPC), E(ENOTTY),
	E(EMFILE), E(ERANGE), E(EDOM), E(EDEADLK), E(ENOSYS), E(EOVERFLOW),
	E(EOPNOTSUPP), E(EMSGSIZE), E(ETIMEDOUT), E(ENODATA), E(EPROTO),
	E(ESPIPE), E(EROFS), E(ENOTSUP), E(EDEADLOCK), E(EWOULDBLOCK),
	E(EADDRINUSE), E(EBADE), E(EBADFD),
};
#undef E

const char *cli_errno_name(int err)
{
	for (size_t i = 0; i < ARRAY_SIZE(errnos); i++) {
		if (errnos[i].err == err)
			return errnos[i].name;
	}
	return NULL;
}

bool cli_errno_lookup(const char *name, int *err)
{
	for (size_t i = 0; i < ARRAY_SIZE(errnos); i++) {
		if (!strcmp(errnos[i].name, name)) {
			*err = errnos[i].err;
			return true;
		}
	}
	return false;
}

void cli_errno_suggest(struct cli_suggest *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(errnos); i++)
		cli_suggest_add(s, errnos[i].name);
}

/* Find `key=` at the start of a word; values may be "quoted". */
bool cli_arg_str(const char *args, const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key);
	const char *p = args;

	while (p && *p) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, key, klen) && p[klen] == '=') {
			const char *v = p + klen + 1, *end;

			if (*v == '"') {
				v++;
				end = strchr(v, '"');
				if (!end)
					end = v + strlen(v);
			} else {
				end = strchr(v, ' ');
				if (!end)
					end = v + strlen(v);
			}
			snprintf(buf, len, "%.*s", (int)(end - v), v);
			return true;
		}
		/* Skip this word, quoted parts included. */
		while (*p && *p != ' ') {
			if (*p++ == '"') {
				while (*p && *p != '"')
					p++;
				if (*p)
					p++;
			}
		}
	}
	return false;
}

bool cli_arg_u64(const char *args, const char *key, uint64_t *v)
{
	char buf[64], *end;

	if (!cli_arg_str(args, key, buf, sizeof(buf)) || !buf[0])
		return false;
	errno = 0;
	if (buf[0] == '-')
		*v = (uint64_t)strtoll(buf, &end, 0);
	else
		*v = strtoull(buf, &end, 0);
	return !errno && !*end;
}

int cli_arg_int(const char *args, const char *key, int dflt)
{
	uint64_t v;

	return cli_arg_u64(args, key, &v) ? (int)(int64_t)v : dflt;
}
