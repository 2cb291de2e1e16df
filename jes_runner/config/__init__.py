"""What the user gives: settings (env, .env, secrets dir, flags), phases, the job config file."""
