// ValidateJobConfig (api/validation.h): the type-specific config shapes of SPEC §4 and the
// pipeline components of SPEC §10. Bloblang mappings are parsed here with the engine's own parser,
// so a mapping outside Drover's subset is refused when the job is put, not on a node.
#include <set>

#include "api/document.h"
#include "api/validation.h"
#include "bloblang/bloblang.h"

namespace drover {
namespace {

std::string KindName(const Json& v) {
  if (v.is_object()) return "an object";
  if (v.is_array()) return "a list";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  return "null";
}

std::string Join(const std::vector<std::string_view>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ", ";
    out += names[i];
  }
  return out;
}

// Reports fields of `object` outside `allowed`, naming what is supported.
void CheckFields(const Json& object, const std::string& path, std::string_view what,
                 const std::vector<std::string_view>& allowed, Diagnostics* d) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    bool known = false;
    for (std::string_view a : allowed) known = known || a == it.key();
    if (!known) {
      d->Error(
          FieldPathAppendKey(path, it.key()),
          "unknown field of " + std::string(what) +
              (allowed.empty() ? " (it takes no fields)" : " (supported: " + Join(allowed) + ")"));
    }
  }
}

bool ExpectKind(const Json& v, bool ok, const std::string& path, std::string_view expected,
                Diagnostics* d) {
  if (!ok) d->Error(path, "expected " + std::string(expected) + ", got " + KindName(v));
  return ok;
}

void CheckStringField(const Json& object, std::string_view field, const std::string& path,
                      bool required, Diagnostics* d) {
  std::string f = FieldPathAppendKey(path, field);
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) {
    if (required) d->Error(f, "required");
    return;
  }
  if (ExpectKind(*it, it->is_string(), f, "a string", d) && required &&
      it->get_ref<const std::string&>().empty()) {
    d->Error(f, "must not be empty");
  }
}

void CheckArgv(const Json& object, std::string_view field, const std::string& path, bool required,
               Diagnostics* d) {
  std::string f = FieldPathAppendKey(path, field);
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) {
    if (required)
      d->Error(f,
               "required: the command as a list of strings, e.g. [\"/bin/sh\", \"-c\", \"...\"]");
    return;
  }
  if (!ExpectKind(*it, it->is_array(), f, "a list of strings (argv)", d)) return;
  if (it->empty()) d->Error(f, "must not be empty");
  for (size_t i = 0; i < it->size(); ++i) {
    ExpectKind((*it)[i], (*it)[i].is_string(), FieldPathAppendIndex(f, i), "a string", d);
  }
  if (!it->empty() && (*it)[0].is_string() && (*it)[0].get_ref<const std::string&>().empty()) {
    d->Error(FieldPathAppendIndex(f, 0), "the program must not be empty");
  }
}

// An object with exactly one key naming a component; returns its name or "".
std::string SingleComponent(const Json& v, const std::string& path, std::string_view what,
                            const std::vector<std::string_view>& supported, Diagnostics* d) {
  if (!ExpectKind(v, v.is_object(), path, "an object naming one " + std::string(what), d))
    return "";
  if (v.size() != 1) {
    d->Error(path, "must name exactly one " + std::string(what) +
                       " (supported: " + Join(supported) + "), got " + std::to_string(v.size()));
    return "";
  }
  const std::string& name = v.begin().key();
  for (std::string_view s : supported) {
    if (s == name) return name;
  }
  d->Error(FieldPathAppendKey(path, name), "unsupported " + std::string(what) + " \"" + name +
                                               "\" (supported: " + Join(supported) + ")");
  return "";
}

void CheckDurationString(const Json& object, std::string_view field, const std::string& path,
                         Diagnostics* d) {
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return;
  std::string f = FieldPathAppendKey(path, field);
  if (!ExpectKind(*it, it->is_string(), f, "a duration string such as \"1s\"", d)) return;
  Result<Duration> parsed = ParseDuration(it->get<std::string>());
  if (!parsed.ok()) {
    d->Error(f, parsed.status().message());
  } else if (parsed->nanoseconds() < 0) {
    d->Error(f, "must not be negative");
  }
}

// Reports a Bloblang mapping that does not parse at `path`: "line 2 char 8: unrecognised
// function 'foo'".
void CheckMapping(const std::string& mapping, const std::string& path, Diagnostics* d) {
  Result<bloblang::Mapping> parsed = bloblang::Mapping::Parse(mapping);
  if (!parsed.ok()) d->Error(path, parsed.status().message());
}

void ValidateInput(const Json& input, const std::string& path, Diagnostics* d) {
  std::string name =
      SingleComponent(input, path, "input", {"file", "stdin", "generate", "http_server"}, d);
  if (name.empty()) return;
  const Json& body = input.begin().value();
  std::string p = FieldPathAppendKey(path, name);
  if (body.is_null()) {
    if (name == "file") d->Error(FieldPathAppendKey(p, "paths"), "required");
    if (name == "generate") d->Error(FieldPathAppendKey(p, "mapping"), "required");
    return;
  }
  if (!ExpectKind(body, body.is_object(), p, "an object", d)) return;
  if (name == "file") {
    CheckFields(body, p, "input file", {"paths"}, d);
    std::string f = FieldPathAppendKey(p, "paths");
    auto it = body.find("paths");
    if (it == body.end() || it->is_null()) {
      d->Error(f, "required: the files to read, e.g. [\"/var/log/app/*.log\"]");
    } else if (ExpectKind(*it, it->is_array(), f, "a list of paths", d)) {
      if (it->empty()) d->Error(f, "must list at least one path");
      for (size_t i = 0; i < it->size(); ++i) {
        const Json& item = (*it)[i];
        std::string fi = FieldPathAppendIndex(f, i);
        if (ExpectKind(item, item.is_string(), fi, "a string", d) &&
            item.get_ref<const std::string&>().empty()) {
          d->Error(fi, "must not be empty");
        }
      }
    }
  } else if (name == "stdin") {
    CheckFields(body, p, "input stdin", {}, d);
  } else if (name == "generate") {
    CheckFields(body, p, "input generate", {"mapping", "interval", "count"}, d);
    CheckStringField(body, "mapping", p, /*required=*/true, d);
    auto mapping = body.find("mapping");
    if (mapping != body.end() && mapping->is_string() &&
        !mapping->get_ref<const std::string&>().empty()) {
      CheckMapping(mapping->get_ref<const std::string&>(), FieldPathAppendKey(p, "mapping"), d);
    }
    // Bento's "" means as fast as possible (so does "0s")
    auto interval = body.find("interval");
    if (interval == body.end() || !interval->is_string() ||
        !interval->get_ref<const std::string&>().empty()) {
      CheckDurationString(body, "interval", p, d);
    }
    auto count = body.find("count");
    if (count != body.end() && !count->is_null()) {
      std::string f = FieldPathAppendKey(p, "count");
      if (ExpectKind(*count, count->is_number_integer(), f, "an integer", d) &&
          count->get<int64_t>() < 0) {
        d->Error(f, "must be 0 (unlimited) or more");
      }
    }
  } else if (name == "http_server") {
    CheckFields(body, p, "input http_server", {"address", "path"}, d);
    CheckStringField(body, "address", p, /*required=*/false, d);
    CheckStringField(body, "path", p, /*required=*/false, d);
  }
}

void ValidateProcessor(const Json& processor, const std::string& path, Diagnostics* d) {
  std::string name = SingleComponent(processor, path, "processor", {"mapping", "log", "sleep"}, d);
  if (name.empty()) return;
  const Json& body = processor.begin().value();
  std::string p = FieldPathAppendKey(path, name);
  if (name == "mapping") {
    if (ExpectKind(body, body.is_string(), p, "a Bloblang mapping (a string)", d)) {
      if (body.get_ref<const std::string&>().empty()) {
        d->Error(p, "must not be empty");
      } else {
        CheckMapping(body.get_ref<const std::string&>(), p, d);
      }
    }
  } else if (name == "log") {
    if (!ExpectKind(body, body.is_object(), p, "an object", d)) return;
    CheckFields(body, p, "processor log", {"level", "message"}, d);
    CheckStringField(body, "message", p, /*required=*/false, d);
    auto level = body.find("level");
    if (level != body.end() && !level->is_null()) {
      std::string f = FieldPathAppendKey(p, "level");
      static const std::set<std::string> kLevels = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"};
      if (ExpectKind(*level, level->is_string(), f, "a string", d) &&
          !kLevels.count(level->get<std::string>())) {
        d->Error(f, "must be one of TRACE, DEBUG, INFO, WARN, ERROR");
      }
    }
  } else if (name == "sleep") {
    if (!ExpectKind(body, body.is_object(), p, "an object", d)) return;
    CheckFields(body, p, "processor sleep", {"duration"}, d);
    if (!body.contains("duration")) d->Error(FieldPathAppendKey(p, "duration"), "required");
    CheckDurationString(body, "duration", p, d);
  }
}

void ValidateOutput(const Json& output, const std::string& path, Diagnostics* d) {
  std::string name =
      SingleComponent(output, path, "output", {"stdout", "file", "http_client", "drop"}, d);
  if (name.empty()) return;
  const Json& body = output.begin().value();
  std::string p = FieldPathAppendKey(path, name);
  if (body.is_null()) {
    if (name == "file") d->Error(FieldPathAppendKey(p, "path"), "required");
    if (name == "http_client") d->Error(FieldPathAppendKey(p, "url"), "required");
    return;
  }
  if (!ExpectKind(body, body.is_object(), p, "an object", d)) return;
  if (name == "stdout" || name == "drop") {
    CheckFields(body, p, "output " + name, {}, d);
  } else if (name == "file") {
    CheckFields(body, p, "output file", {"path"}, d);
    CheckStringField(body, "path", p, /*required=*/true, d);
  } else if (name == "http_client") {
    CheckFields(body, p, "output http_client", {"url", "verb"}, d);
    CheckStringField(body, "url", p, /*required=*/true, d);
    auto verb = body.find("verb");
    if (verb != body.end() && !verb->is_null()) {
      std::string f = FieldPathAppendKey(p, "verb");
      static const std::set<std::string> kVerbs = {"POST", "PUT", "PATCH", "GET", "DELETE"};
      if (ExpectKind(*verb, verb->is_string(), f, "a string", d) &&
          !kVerbs.count(verb->get<std::string>())) {
        d->Error(f, "must be one of POST, PUT, PATCH, GET, DELETE");
      }
    }
  }
}

void ValidatePipelineConfig(const Json& config, JobType type, const std::string& path,
                            Diagnostics* d) {
  CheckFields(config, path, std::string(JobTypeName(type)) + " config",
              {"input", "pipeline", "output"}, d);
  auto input = config.find("input");
  if (input == config.end() || input->is_null()) {
    d->Error(FieldPathAppendKey(path, "input"),
             "required: where messages come from, e.g. "
             "{\"file\": {\"paths\": [...]}}");
  } else {
    ValidateInput(*input, FieldPathAppendKey(path, "input"), d);
  }
  auto pipeline = config.find("pipeline");
  if (pipeline != config.end() && !pipeline->is_null()) {
    std::string p = FieldPathAppendKey(path, "pipeline");
    if (ExpectKind(*pipeline, pipeline->is_object(), p, "an object", d)) {
      CheckFields(*pipeline, p, "pipeline", {"processors"}, d);
      auto processors = pipeline->find("processors");
      std::string pp = FieldPathAppendKey(p, "processors");
      if (processors != pipeline->end() && !processors->is_null() &&
          ExpectKind(*processors, processors->is_array(), pp, "a list of processors", d)) {
        for (size_t i = 0; i < processors->size(); ++i) {
          ValidateProcessor((*processors)[i], FieldPathAppendIndex(pp, i), d);
        }
      }
    }
  }
  auto output = config.find("output");
  if (output == config.end() || output->is_null()) {
    if (type == JobType::kPipeline) {
      d->Error(FieldPathAppendKey(path, "output"),
               "required: where messages go, e.g. {\"stdout\": {}}");
    }
  } else {
    ValidateOutput(*output, FieldPathAppendKey(path, "output"), d);
  }
}

void ValidateUpdateConfig(const Json& config, const std::string& path, Diagnostics* d) {
  CheckFields(config, path, "update config", {"command", "env", "rollback_command"}, d);
  CheckArgv(config, "command", path, /*required=*/true, d);
  CheckArgv(config, "rollback_command", path, /*required=*/false, d);
  auto env = config.find("env");
  if (env != config.end() && !env->is_null()) {
    std::string f = FieldPathAppendKey(path, "env");
    if (ExpectKind(*env, env->is_object(), f, "an object of strings", d)) {
      for (auto it = env->begin(); it != env->end(); ++it) {
        std::string fe = FieldPathAppendKey(f, it.key());
        ExpectKind(*it, it->is_string(), fe, "a string", d);
        if (it.key().empty() || it.key().find('=') != std::string::npos) {
          d->Error(fe, "environment variable names must be non-empty and contain no '='");
        }
      }
    }
  }
}

bool IsOctalMode(std::string_view mode) {
  if (mode.size() < 3 || mode.size() > 4) return false;
  for (char c : mode) {
    if (c < '0' || c > '7') return false;
  }
  return true;
}

void ValidateFilesConfig(const Json& config, const std::string& path, Diagnostics* d) {
  CheckFields(config, path, "config config", {"files", "on_change"}, d);
  CheckArgv(config, "on_change", path, /*required=*/false, d);
  std::string f = FieldPathAppendKey(path, "files");
  auto files = config.find("files");
  if (files == config.end() || files->is_null()) {
    d->Error(f, "required: the files to keep in place, [{path, content, mode}]");
    return;
  }
  if (!ExpectKind(*files, files->is_array(), f, "a list of files", d)) return;
  if (files->empty()) d->Error(f, "must list at least one file");
  std::set<std::string> seen;
  for (size_t i = 0; i < files->size(); ++i) {
    const Json& file = (*files)[i];
    std::string fi = FieldPathAppendIndex(f, i);
    if (!ExpectKind(file, file.is_object(), fi, "an object {path, content, mode}", d)) continue;
    CheckFields(file, fi, "a config file", {"path", "content", "mode"}, d);
    std::string fp = FieldPathAppendKey(fi, "path");
    auto p = file.find("path");
    if (p == file.end() || p->is_null()) {
      d->Error(fp, "required");
    } else if (ExpectKind(*p, p->is_string(), fp, "a string", d)) {
      const std::string& text = p->get_ref<const std::string&>();
      if (text.empty() || text[0] != '/') {
        d->Error(fp, "must be an absolute path");
      } else if (text.find('\0') != std::string::npos || text.back() == '/') {
        d->Error(fp, "must name a file");
      } else if (text.find("/../") != std::string::npos ||
                 text.substr(text.size() >= 3 ? text.size() - 3 : 0) == "/..") {
        d->Error(fp, "must not contain \"..\"");
      } else if (!seen.insert(text).second) {
        d->Error(fp, "the same path is listed twice");
      }
    }
    std::string fc = FieldPathAppendKey(fi, "content");
    auto c = file.find("content");
    if (c == file.end() || c->is_null()) {
      d->Error(fc, "required (use \"\" for an empty file)");
    } else {
      ExpectKind(*c, c->is_string(), fc, "a string (UTF-8 text)", d);
    }
    auto m = file.find("mode");
    if (m != file.end() && !m->is_null()) {
      std::string fm = FieldPathAppendKey(fi, "mode");
      if (ExpectKind(*m, m->is_string(), fm, "a string of 3 or 4 octal digits such as \"0644\"",
                     d) &&
          !IsOctalMode(m->get<std::string>())) {
        d->Error(fm, "must be 3 or 4 octal digits such as \"0644\" (got \"" +
                         m->get<std::string>() + "\")");
      }
    }
  }
}

}  // namespace

void ValidateJobConfig(JobType type, const Json& config, const std::string& path, Diagnostics* d) {
  if (!config.is_object()) return;  // the decoder reported it
  switch (type) {
    case JobType::kPipeline:
    case JobType::kQuery:
      ValidatePipelineConfig(config, type, path, d);
      return;
    case JobType::kUpdate:
      ValidateUpdateConfig(config, path, d);
      return;
    case JobType::kConfig:
      ValidateFilesConfig(config, path, d);
      return;
  }
}

}  // namespace drover
