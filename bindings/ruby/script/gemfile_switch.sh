#!/usr/bin/env bash
# Proves the README's claim: an application whose Gemfile says
# `gem "pyroscope"` moves to this gem by changing its `source` line only.
# Serves GEM from a local gem index (the stand-in for a private gem
# server), bundles an app with an unchanged `gem "pyroscope"` line and
# checks what it loads.
#   script/gemfile_switch.sh GEM WORKDIR
set -euo pipefail
gem_file=$1 work=$2
rm -rf "$work"
mkdir -p "$work/index/gems" "$work/app"
full=$(ruby -rrubygems/package -e 'print Gem::Package.new(ARGV[0]).spec.full_name' "$gem_file")
cp "$gem_file" "$work/index/gems/$full.gem"
gem generate_index -d "$work/index" >/dev/null
cd "$work/app"
cat >Gemfile <<GEMFILE
source "file://$work/index"   # was: source "https://rubygems.org"
gem "pyroscope"
GEMFILE
export BUNDLE_PATH="$work/bundle" BUNDLE_GEMFILE="$work/app/Gemfile" \
    BUNDLE_SILENCE_ROOT_WARNING=1
unset GEM_HOME GEM_PATH
bundle install --quiet
bundle exec ruby -e '
  require "pyroscope"
  spec = Gem.loaded_specs.fetch("pyroscope")
  abort "wrong gem: #{spec.full_gem_path}" unless spec.full_gem_path.start_with?(ENV["BUNDLE_PATH"])
  abort "no Pyroscope::Native" unless defined?(Pyroscope::Native)
  Pyroscope.configure { |c| c.application_name = "switch"; c.server_address = "file:///tmp" }
  Pyroscope.tag_wrapper({ "k" => "v" }) { 1 + 1 }
  Pyroscope.shutdown
  puts "gemfile switch: pyroscope #{spec.version} from #{spec.full_gem_path}"
'
