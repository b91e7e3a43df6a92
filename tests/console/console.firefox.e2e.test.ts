import { describeConsoleAcceptance } from '../support/console-acceptance';

// The console's acceptance run (issue 16) in Debian's Firefox ESR, driven over WebDriver BiDi.
describeConsoleAcceptance(__filename, 'firefox');
