# frozen_string_literal: true

# A minimal Rails application (railties + actionpack from Debian), loaded
# the way Bundler.require does it: Rails first, then the gem.  The gem is
# configured from an initializer; Pyroscope::Engine's after_initialize hook
# installs the around_action, which tags each action with
# action=<controller>/<action>.  Requests go through the Rack stack.
require "rails"
require "action_controller/railtie"
require_relative "work"

class App < Rails::Application
  config.eager_load = false
  config.logger = Logger.new(nil)
  config.secret_key_base = "x" * 32
  config.hosts.clear if config.respond_to?(:hosts)
  initializer "pyroscope.configure" do
    Work.setup_profiler(ARGV.fetch(0), app: "ruby.rails",
                        autoinstrument_rails: ENV["RAILS_OFF"] != "1")
  end
end

class UsersController < ActionController::Base
  def index
    Workload.new.work_a(Float(ENV.fetch("RAILS_A", "0.6")))
    render plain: "users"
  end
end

class ProductsController < ActionController::API
  def show
    Workload.new.work_b(Float(ENV.fetch("RAILS_B", "0.4")))
    render plain: "product"
  end
end

App.initialize!
App.routes.draw do
  get "/users" => "users#index"
  get "/products/:id" => "products#show"
end
puts "engine=#{Pyroscope::Engine.ancestors.include?(Rails::Engine)}"
req = Rack::MockRequest.new(App)
puts "users=#{req.get('/users').body} product=#{req.get('/products/7').body}"
Workload.new.work_untagged(0.3)
Pyroscope.shutdown
