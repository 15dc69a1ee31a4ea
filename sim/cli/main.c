/*
 * iommufd-sim: the command-line program.  It plays scenarios against the
 * simulator and shows what happens inside; this is the only part of the
 * project that prints.  This file holds the subcommands (run, demo,
 * trace, dot, help, version), their options and --help texts, and the
 * exit status: 0 when every line held, 1 when one did not, 2 for a usage
 * error or a malformed scenario.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "sim/cli/cli.h"

enum { EXIT_HELD = 0, EXIT_BROKEN = 1, EXIT_USAGE = 2 };

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
	const char *help;
};

static const struct command *find_command(const char *name);

static const char main_help[] =
	"usage: iommufd-sim COMMAND [OPTIONS] [ARGS]\n"
	"\n"
	"Plays scenarios against a userspace simulator of the Linux iommufd\n"
	"subsystem and shows what happens inside.\n"
	"\n"
	"commands:\n";

static const char run_help[] =
	"usage: iommufd-sim run [-e] [-q] [-k] FILE...\n"
	"\n"
	"Plays scenario files (- is standard input), each on a fresh machine,\n"
	"printing every line and its outcome.  The exit status is 0 only if\n"
	"every line of every file held, 1 if one did not, 2 if a file is\n"
	"malformed (nothing of that file runs then).\n"
	"\n"
	"  -e, --explain     under each line, the steps the simulator took\n"
	"  -q, --quiet       print only say/show output and failures\n"
	"  -k, --keep-going  play on after a line that did not hold\n"
	"  -h, --help        this text\n"
	"\n"
	"The language is in iommufd-sim(1) and docs/scenarios.md.\n";

static const char demo_help[] =
	"usage: iommufd-sim demo [-e] [--source]\n"
	"\n"
	"Plays the built-in scenario: IOMMUFD_CMD_HW_QUEUE_ALLOC as in the v8\n"
	"review thread.  The physically addressed queue (pinned, contiguous,\n"
	"IOAS_UNMAP refused with EBUSY until the queue is destroyed), the IOVA\n"
	"variant that pins nothing, and the v8 rounding bug (ERANGE for an\n"
	"unaligned queue) next to the merged code.\n"
	"\n"
	"  -e, --explain     under each line, the steps the simulator took\n"
	"  -s, --source      print the scenario instead of playing it\n"
	"  -h, --help        this text\n";

static const char trace_help[] =
	"usage: iommufd-sim trace [-f FORMAT] [-o OUT] FILE\n"
	"\n"
	"Plays a scenario silently and writes every trace event it caused.\n"
	"The exit status is that of `run`.\n"
	"\n"
	"  -f, --format FORMAT  text (default), jsonl, or chrome (Trace Event\n"
	"                       Format for chrome://tracing and Perfetto)\n"
	"  -o, --output OUT     write there instead of standard output\n"
	"  -h, --help           this text\n";

static const char dot_help[] =
	"usage: iommufd-sim dot [-o OUT] FILE\n"
	"\n"
	"Plays a scenario silently and writes the object graph of its open\n"
	"iommufds at the end as Graphviz DOT: objects with type, ID, users and\n"
	"wait_cnt, an edge for every reference one object holds on another.\n"
	"Render with `dot -Tsvg`.  A `dot FILE` line inside a scenario writes\n"
	"the graph at that point.\n"
	"\n"
	"  -o, --output OUT     write there instead of standard output\n"
	"  -h, --help           this text\n";

static const char help_help[] =
	"usage: iommufd-sim help [COMMAND]\n";

static const char version_help[] =
	"usage: iommufd-sim version\n";

/* The whole of a file, or of standard input for "-". */
static char *read_file(const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	size_t len = 0, cap = 4096, n;
	char *buf;

	if (!f) {
		fprintf(stderr, "iommufd-sim: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	buf = cli_xrealloc(NULL, cap);
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 2)
			buf = cli_xrealloc(buf, cap *= 2);
	}
	buf[len] = 0;
	if (ferror(f)) {
		fprintf(stderr, "iommufd-sim: %s: %s\n", path, strerror(errno));
		free(buf);
		buf = NULL;
	}
	if (f != stdin)
		fclose(f);
	return buf;
}

/* Parse and play one scenario text; returns an exit status. */
static int play_text(const char *name, const char *text,
		     const struct cli_opts *opts)
{
	struct scn_script sc;
	unsigned errors = scn_parse(name, text, stderr, &sc);
	int status;

	if (errors) {
		fprintf(stderr, "%s: %u malformed line%s; nothing was played\n",
			name, errors, errors == 1 ? "" : "s");
		scn_script_free(&sc);
		return EXIT_USAGE;
	}
	status = scn_play(&sc, opts);
	scn_script_free(&sc);
	return status ? EXIT_BROKEN : EXIT_HELD;
}

static int play_file(const char *path, const struct cli_opts *opts)
{
	char *text = read_file(path);
	int status;

	if (!text)
		return EXIT_USAGE;
	status = play_text(strcmp(path, "-") ? path : "<stdin>", text, opts);
	free(text);
	return status;
}

static int usage_error(const char *cmd)
{
	const struct command *c = find_command(cmd);

	fprintf(stderr, "%s", c ? c->help : main_help);
	return EXIT_USAGE;
}

static int cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "explain", no_argument, NULL, 'e' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "keep-going", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_opts opts = { 0 };
	int c, status = EXIT_HELD;

	while ((c = getopt_long(argc, argv, "eqkh", longopts, NULL)) != -1) {
		switch (c) {
		case 'e': opts.explain = true; break;
		case 'q': opts.quiet = true; break;
		case 'k': opts.keep_going = true; break;
		case 'h': fputs(run_help, stdout); return EXIT_HELD;
		default: return usage_error("run");
		}
	}
	if (optind == argc) {
		fprintf(stderr, "iommufd-sim run: no scenario file given\n");
		return usage_error("run");
	}
	for (int i = optind; i < argc; i++) {
		int s = play_file(argv[i], &opts);

		status = s > status ? s : status;
	}
	return status;
}

static int cmd_demo(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "explain", no_argument, NULL, 'e' },
		{ "source", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_opts opts = { 0 };
	int c;

	while ((c = getopt_long(argc, argv, "esh", longopts, NULL)) != -1) {
		switch (c) {
		case 'e': opts.explain = true; break;
		case 's': fputs(cli_demo_scenario, stdout); return EXIT_HELD;
		case 'h': fputs(demo_help, stdout); return EXIT_HELD;
		default: return usage_error("demo");
		}
	}
	if (optind != argc)
		return usage_error("demo");
	return play_text("demo", cli_demo_scenario, &opts);
}

/* trace and dot: play silently, the output being the point. */
static int play_silently(const char *cmd, const char *path,
			 struct cli_opts *opts)
{
	FILE *null = fopen("/dev/null", "w");
	int status;

	if (!null) {
		fprintf(stderr, "iommufd-sim %s: /dev/null: %s\n", cmd,
			strerror(errno));
		return EXIT_USAGE;
	}
	opts->quiet = true;
	opts->out = null;
	status = play_file(path, opts);
	fclose(null);
	return status;
}

static FILE *open_output(const char *cmd, const char *path)
{
	FILE *f;

	if (!path || !strcmp(path, "-"))
		return stdout;
	f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "iommufd-sim %s: %s: %s\n", cmd, path,
			strerror(errno));
	return f;
}

static int close_output(const char *cmd, FILE *f, int status)
{
	if (fflush(f) || ferror(f)) {
		fprintf(stderr, "iommufd-sim %s: write error\n", cmd);
		status = EXIT_USAGE;
	}
	if (f != stdout)
		fclose(f);
	return status;
}

static int cmd_trace(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum trace_fmt fmt = TRACE_TEXT;
	struct cli_opts opts = { 0 };
	const char *output = NULL;
	FILE *f;
	int c, status;

	while ((c = getopt_long(argc, argv, "f:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!trace_fmt_parse(optarg, &fmt)) {
				fprintf(stderr,
					"iommufd-sim trace: unknown format '%s' (text, jsonl or chrome)\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'o': output = optarg; break;
		case 'h': fputs(trace_help, stdout); return EXIT_HELD;
		default: return usage_error("trace");
		}
	}
	if (optind + 1 != argc)
		return usage_error("trace");
	f = open_output("trace", output);
	if (!f)
		return EXIT_USAGE;
	opts.trace = trace_writer_open(f, fmt);
	status = play_silently("trace", argv[optind], &opts);
	trace_writer_close(opts.trace);
	return close_output("trace", f, status);
}

static int cmd_dot(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_opts opts = { 0 };
	const char *output = NULL;
	int c, status;

	while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		case 'h': fputs(dot_help, stdout); return EXIT_HELD;
		default: return usage_error("dot");
		}
	}
	if (optind + 1 != argc)
		return usage_error("dot");
	opts.dot_out = open_output("dot", output);
	if (!opts.dot_out)
		return EXIT_USAGE;
	status = play_silently("dot", argv[optind], &opts);
	return close_output("dot", opts.dot_out, status);
}

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("%s\n", PACKAGE_STRING);
	return EXIT_HELD;
}

static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
	{ "run", cmd_run, "play scenario files", run_help },
	{ "demo", cmd_demo, "play the built-in HW queue story", demo_help },
	{ "trace", cmd_trace, "write a scenario's trace (text, jsonl, chrome)",
	  trace_help },
	{ "dot", cmd_dot, "write a scenario's object graph as Graphviz DOT",
	  dot_help },
	{ "help", cmd_help, "this text, or a command's", help_help },
	{ "version", cmd_version, "print the version", version_help },
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	}
	return NULL;
}

static void print_main_help(FILE *f)
{
	fputs(main_help, f);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n`iommufd-sim COMMAND --help` tells more; the scenario language is in\n"
		   "iommufd-sim(1).  With no command, the demo plays.\n");
}

static int cmd_help(int argc, char **argv)
{
	const struct command *c;

	if (argc < 2) {
		print_main_help(stdout);
		return EXIT_HELD;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(help_help, stdout);
		return EXIT_HELD;
	}
	c = find_command(argv[1]);
	if (!c) {
		fprintf(stderr, "iommufd-sim: no command '%s'\n", argv[1]);
		print_main_help(stderr);
		return EXIT_USAGE;
	}
	fputs(c->help, stdout);
	return EXIT_HELD;
}

int main(int argc, char **argv)
{
	const struct command *c;
	struct cli_suggest sg;
	char hint[128];

	if (argc < 2)
		return cmd_demo(1, argv);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(1, argv);
	if (!strcmp(argv[1], "--version"))
		return cmd_version(1, argv);
	c = find_command(argv[1]);
	if (!c) {
		cli_suggest_init(&sg, argv[1]);
		for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
			cli_suggest_add(&sg, commands[i].name);
		fprintf(stderr, "iommufd-sim: no command '%s'%s\n", argv[1],
			cli_suggest_text(&sg, hint, sizeof(hint)));
		print_main_help(stderr);
		return EXIT_USAGE;
	}
	return c->fn(argc - 1, argv + 1);
}
