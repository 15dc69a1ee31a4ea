/*
 * The scenario parser's state, shared by parse.c (splitting lines into
 * words and clauses) and parse_check.c (checking what they say).  Private
 * to sim/cli.
 */
#ifndef ISIM_CLI_PARSE_H
#define ISIM_CLI_PARSE_H

#include <stdio.h>

#include "sim/cli/cli.h"

struct verb_desc {
	const char *name;
	enum scn_verb verb;
	unsigned min, max;	/* positional arguments */
	bool kv;		/* arguments may be key=value */
	bool outs;		/* -> VAR allowed */
	bool expect;		/* => ERRNO allowed */
	const char *usage;
};

/* parse.c: every verb, its argument counts and usage. */
extern const struct verb_desc cli_verbs[];
extern const size_t cli_nverbs;

/* Names set so far, to catch a use before any line sets it. */
struct name_set {
	char **v;
	unsigned n;
};

struct parser {
	const char *file;
	FILE *err;
	unsigned line;
	const char *src;	/* the current line as written */
	unsigned errors;
	bool line_failed;
	struct name_set vars, fds, devices, iommus;
};

/* parse.c */
void cli_perr(struct parser *p, unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool cli_is_name(const char *s);

/* parse_check.c */
void cli_set_add(struct name_set *s, const char *name);
void cli_set_free(struct name_set *s);
void cli_check_stmt(struct parser *p, struct scn_stmt *st);

#endif
