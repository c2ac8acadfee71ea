/*
 * main.c -- the keel command: dispatch to a subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "version.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"server", cli_server, "run the tracking server (MLflow-compatible REST API)"},
    {"gc", cli_gc, "permanently remove deleted runs and unreferenced artifact contents"},
    {"deployments", cli_deployments, "create, update, get, list or delete a server's deployments"},
    {"predictions", cli_predictions, "query the prediction log of a server's deployments"},
    {"keys", cli_keys, "put sealed artifacts under a new master key (`keel keys --help`)"},
    {"audit", cli_audit, "list or verify the audit log of a store (`keel audit --help`)"},
    {"policy", cli_policy, "print who may call each endpoint when --auth is on (JSON lines)"},
    {"models", cli_models, "serve a model, or score a file with it (`keel models --help`)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: keel <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n`keel <command> --help` describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("keel %s\n", KEEL_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "keel: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
