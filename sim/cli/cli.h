/*
 * Declarations shared by the modules of the iommufd-sim program: the uAPI
 * tables (ioctl structs, field names, symbolic constants, errno names),
 * expressions, the parsed form of a scenario and the runner that plays
 * it, and the outputs fed from trace events (explain sentences, trace
 * writers, the object graph, the area and pin mirror behind `show`).
 * Only this program prints; everything here writes to the FILE it is
 * given.
 */
#ifndef ISIM_CLI_H
#define ISIM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "iommufd-sim/sim.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------ util.c */

/* Up to three closest candidates to a misspelt word. */
struct cli_suggest {
	const char *word;
	const char *best[3];
	unsigned dist[3];
};

void cli_suggest_init(struct cli_suggest *s, const char *word);
void cli_suggest_add(struct cli_suggest *s, const char *cand);
/* "; did you mean X, Y or Z?" or "" when nothing is close. */
const char *cli_suggest_text(const struct cli_suggest *s, char *buf,
			     size_t len);

const char *cli_errno_name(int err);		/* "EBUSY", or NULL */
bool cli_errno_lookup(const char *name, int *err);
void cli_errno_suggest(struct cli_suggest *s);

/* Value of `key` in a trace event's "key=value key=value" arguments. */
bool cli_arg_str(const char *args, const char *key, char *buf, size_t len);
bool cli_arg_u64(const char *args, const char *key, uint64_t *v);
int cli_arg_int(const char *args, const char *key, int dflt);

void *cli_xrealloc(void *p, size_t n);
char *cli_xstrdup(const char *s);
char *cli_xstrndup(const char *s, size_t n);

/* ------------------------------------------------------ uapi_table.c */

/* A symbolic value: its short name (per field) and its uAPI name. */
struct cli_sym {
	const char *name;
	const char *full;
	uint64_t value;
};

/* One scalar member of an ioctl struct. */
struct cli_field {
	const char *name;
	unsigned offset;
	unsigned size;			/* 1, 2, 4 or 8 */
	const struct cli_sym *syms;	/* its names, NULL-terminated */
};

struct cli_ioctl {
	const char *name;		/* without IOMMU_ */
	unsigned long request;
	unsigned size;
	const struct cli_field *fields;	/* NULL-terminated */
	const char *out;		/* what `-> VAR` binds, or NULL */
};

const struct cli_ioctl *cli_ioctl_find(const char *name);
void cli_ioctl_suggest(struct cli_suggest *s);
const struct cli_field *cli_field_find(const struct cli_ioctl *ioc,
				       const char *name);
void cli_field_suggest(const struct cli_ioctl *ioc, struct cli_suggest *s);
/* A constant: the field's own short names first, then every uAPI name. */
bool cli_const_find(const char *name, size_t len, const struct cli_sym *local,
		    uint64_t *value);
void cli_const_suggest(struct cli_suggest *s, const struct cli_sym *local);

/* ------------------------------------------------------------ expr.c */

/*
 * VALUE: terms joined by | + - *, with parentheses; a term is a number
 * (decimal, 0x hex, K/M/G/T suffix), $VAR, a constant name or PAGE_SIZE.
 */
struct cli_expr_env {
	/* NULL: only check syntax and names (variables are not known). */
	bool (*var)(void *arg, const char *name, uint64_t *value);
	void *arg;
	const struct cli_sym *syms;
	uint64_t page_size;
	/* Called for every $VAR while checking: return false if unknown. */
	bool (*var_known)(void *arg, const char *name);
};

struct cli_diag {
	unsigned col;		/* offset into the expression */
	char msg[256];
};

int cli_expr_eval(const char *s, const struct cli_expr_env *env,
		  uint64_t *out, struct cli_diag *d);

/* --------------------------------------------------------- parse.c */

enum scn_verb {
	V_MACHINE, V_IOMMU, V_DEVICE, V_MEM, V_OPEN, V_CLOSE, V_BIND,
	V_UNBIND, V_ATTACH, V_REPLACE, V_DETACH, V_IOCTL, V_RUN, V_CHECK,
	V_SHOW, V_DOT, V_SAY, V_SET, V_EXPECT, V_POKE, V_PEEK, V_MMAP,
	V_MUNMAP, V_FAIL_NTH, V_DMA, V_PAGE_REQUEST, V_CMDQV, V_AMD,
};

struct scn_tok {
	char *s;
	unsigned col;		/* 1-based */
	char *val;		/* after '=' in key=value, else NULL */
	const struct cli_field *field;	/* ioctl field it sets */
};

struct scn_out {
	char *var;
	const struct cli_field *field;	/* NULL: the verb's own result */
	unsigned col;
};

#define SCN_MAX_OUTS 4

struct scn_stmt {
	unsigned line;
	enum scn_verb verb;
	char *src;		/* the line, comment and blanks trimmed */
	struct scn_tok *tok;	/* arguments after the verb */
	unsigned ntok;
	const struct cli_ioctl *ioc;
	struct scn_out outs[SCN_MAX_OUTS];
	unsigned nouts;
	bool has_expect;
	int expect_err;		/* 0: success */
	unsigned expect_col;
	char *text;		/* `say` */
};

struct scn_script {
	char *file;
	struct scn_stmt *v;
	unsigned n;
};

/* Parse a whole file; reports each malformed line on @err, returns the
 * number of errors. */
unsigned scn_parse(const char *file, const char *text, FILE *err,
		   struct scn_script *out);
void scn_script_free(struct scn_script *sc);
const char *scn_verb_name(enum scn_verb v);

/* -------------------------------------------------------- vendor.c */

/*
 * A subcommand of the vendor verbs (`cmdqv FD SUB ...`, `amd FD SUB ...`).
 * @args has one letter per positional argument after SUB: v a value
 * (which may use @syms), o the command's opcode, w one of @words, d a
 * device name.  @result names what `-> VAR` binds, NULL if nothing.
 */
struct cli_vsub {
	const char *name;
	const char *args;
	const char *const *words;
	const char *word_what;		/* what a w argument is */
	const struct cli_sym *syms;
	const char *result;
	const char *usage;
};

const struct cli_vsub *cli_vsub_find(enum scn_verb v, const char *name);
void cli_vsub_suggest(enum scn_verb v, struct cli_suggest *s);
/* Opcodes of `cmdqv ... push` (SMMUv3) and `amd ... cmd`, and "raw". */
bool cli_vendor_op_valid(enum scn_verb v, const char *op);
void cli_vendor_op_suggest(enum scn_verb v, struct cli_suggest *s);
/* key=value: the command's fields (@op NULL: none), and amd's viommu=. */
bool cli_vendor_key_valid(enum scn_verb v, const char *op, const char *key);
void cli_vendor_key_suggest(enum scn_verb v, const char *op,
			    struct cli_suggest *s);
/* page_request's flags= names. */
extern const struct cli_sym cli_prq_syms[];

/* ------------------------------------------------------- explain.c */

/* A trace event kept until the statement that caused it has run. */
struct cli_event {
	char *point;
	char *args;
};

void explain_events(FILE *out, const char *indent,
		    const struct cli_event *ev, size_t n);

/* ----------------------------------------------------- trace_out.c */

enum trace_fmt { TRACE_TEXT, TRACE_JSONL, TRACE_CHROME };

struct trace_writer;
bool trace_fmt_parse(const char *name, enum trace_fmt *fmt);
struct trace_writer *trace_writer_open(FILE *f, enum trace_fmt fmt);
/* @machine numbers the machines of a scenario, from 1. */
void trace_writer_event(struct trace_writer *tw, unsigned machine,
			const struct isim_trace_event *ev);
void trace_writer_close(struct trace_writer *tw);

/* ------------------------------------------------------------ dot.c */

struct cli_named_fd {
	const char *name;
	struct isim_fd *fd;
};

int dot_write(FILE *f, const struct cli_named_fd *fds, unsigned n);

/* ----------------------------------------------------------- show.c */

/*
 * What the trace tells about memory that the object table does not: the
 * areas of each IOAS and the frames the pages layer pinned.  Area events
 * happen inside a call on one context, which the runner names.
 */
struct cli_mirror;

struct cli_mirror *mirror_new(void);
void mirror_free(struct cli_mirror *mi);
void mirror_event(struct cli_mirror *mi, struct isim_fd *cur,
		  const char *point, const char *args);
void mirror_forget_fd(struct cli_mirror *mi, struct isim_fd *fd);
void mirror_reset(struct cli_mirror *mi);

void show_objects(FILE *f, const char *indent, struct isim_fd *fd);
void show_refs(FILE *f, const char *indent, struct isim_fd *fd);
void show_areas(FILE *f, const char *indent, const struct cli_mirror *mi,
		struct isim_fd *fd, uint32_t ioas);
void show_pins(FILE *f, const char *indent, const struct cli_mirror *mi,
	       uint64_t page_size);

/* ------------------------------------------------------- scenario.c */

struct cli_opts {
	bool explain;
	bool quiet;
	bool keep_going;
	FILE *out;			/* the story; NULL: stdout */
	struct trace_writer *trace;	/* every event, as it happens */
	FILE *dot_out;			/* the final object graph, or NULL */
};

/* Play one parsed script: 0 when every line held, 1 otherwise. */
int scn_play(const struct scn_script *sc, const struct cli_opts *opts);

/* ----------------------------------------------------------- demo.c */

extern const char cli_demo_scenario[];

#endif
