// Baseline for bench/load: libyaml's parser alone over the same files (every event read and freed, nothing
// built), the floor under any loader built on libyaml. usage: yaml_events FILE...
#include <stdio.h>
#include <yaml.h>
#include "../c/stats.h"

int main(int argc, char **argv) {
    double t0 = bench_now(), c0 = bench_cpu();
    long events = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) { perror(argv[i]); return 1; }
        yaml_parser_t parser;
        yaml_parser_initialize(&parser);
        yaml_parser_set_input_file(&parser, f);
        for (;;) {
            yaml_event_t event;
            if (!yaml_parser_parse(&parser, &event)) { fprintf(stderr, "%s: parse error\n", argv[i]); return 1; }
            int end = event.type == YAML_STREAM_END_EVENT;
            yaml_event_delete(&event);
            events++;
            if (end) break;
        }
        yaml_parser_delete(&parser);
        fclose(f);
    }
    printf("%ld events in %.3f s wall, %.3f s CPU\n", events, bench_now() - t0, bench_cpu() - c0);
    return 0;
}
