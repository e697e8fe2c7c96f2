#include "apps/tasker_ctl/cli_args.hpp"

namespace tasker::apps {

CliArgs CliArgs::parse(const std::vector<std::string>& argv) {
  CliArgs args;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    auto& word = argv[i];
    if (word == "--json") {
      args.json = true;
    } else if (word == "--help" || word == "-h") {
      args.help = true;
    } else if (word == "--config" || word == "-c") {
      if (i + 1 == argv.size()) {
        args.bad_flag = word + " needs a file";
        break;
      }
      args.config_file = argv[++i];
    } else if (word == "--url") {
      if (i + 1 == argv.size()) {
        args.bad_flag = word + " needs a URL";
        break;
      }
      args.url = argv[++i];
    } else if (word.starts_with("--config=")) {
      args.config_file = word.substr(9);
    } else if (word.starts_with("-") && word.size() > 1) {
      args.bad_flag = "unknown option " + word;
      break;
    } else {
      args.words.push_back(word);
    }
  }
  return args;
}

} // namespace tasker::apps
