// PM2 process file: `pm2 start ecosystem.config.js --env production`, `pm2 reload erp-backend` for zero-downtime deploys.
module.exports = {
  apps: [
    {
      name: 'erp-backend',
      script: 'dist/server.js',
      exec_mode: 'cluster',
      instances: process.env.WEB_CONCURRENCY || 'max',
      // The app calls process.send('ready') once MongoDB, Redis and the HTTP listener are up.
      wait_ready: true,
      listen_timeout: 15000,
      // Longer than SHUTDOWN_TIMEOUT_MS so the app's own graceful drain finishes before PM2's SIGKILL.
      kill_timeout: 12000,
      shutdown_with_message: false,
      max_memory_restart: '768M',
      exp_backoff_restart_delay: 200,
      merge_logs: true,
      env: { NODE_ENV: 'development' },
      env_production: { NODE_ENV: 'production', SHUTDOWN_TIMEOUT_MS: '10000' },
    },
  ],
};
