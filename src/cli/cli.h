/*
 * cli.h -- keel's subcommands; each takes argv from its own name on and
 * returns the process exit code.
 */
#ifndef KEEL_CLI_H
#define KEEL_CLI_H

int cli_server(int argc, char **argv);

#endif
