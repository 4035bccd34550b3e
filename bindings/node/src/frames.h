// Names of JavaScript frames, as @pyroscope/nodejs writes them.
#ifndef PYROSCOPE_NODE_FRAMES_H
#define PYROSCOPE_NODE_FRAMES_H

#include <v8.h>

#include <string>

namespace pyro_node {

// Set once by start(), read on any JS thread afterwards.
struct NameOptions {
    int strip_filenames = 0;  // 0 none, 1 all, 2 dependencies
    bool shorten_paths = false;
    bool keep_program = false;  // report "(program)" samples (debug aid)
    std::string cwd;
};
extern NameOptions g_names;

// Function names as @pyroscope/nodejs writes them: "<path>:<name>:<line>",
// the path relative to the working directory ("./lib/a.js"), or with
// shortenPaths the path inside the innermost node_modules package.
// Runtime pseudo-frames without a script ("(garbage collector)") keep
// their name.
struct FrameNames {
    std::string name, file;
    int line = 0;
    void set(const char *fn, const char *script, int line_number);
};

// "(idle)" (and "(program)") samples: the event loop waiting, not work.
bool is_idle_name(const char *name);
void utf8(v8::Isolate *iso, v8::Local<v8::String> s, std::string *out);

}  // namespace pyro_node

#endif
