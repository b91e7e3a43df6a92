import { loadConfig } from '../../src/config';
import { configProblems } from '../support/config';

describe('MongoDB read preference and write concern in MONGODB_URI', () => {
  it('when the URI asks for primary reads and majority writes (or says nothing), then it loads', () => {
    for (const uri of [
      'mongodb+srv://app:pw@erp.abcde.mongodb.net/erp?retryWrites=true&w=majority&readPreference=primary',
      'mongodb://db1:27017,db2:27017,db3:27017/erp?replicaSet=rs0',
      'mongodb://127.0.0.1:27017/erp',
    ])
      expect(loadConfig({ NODE_ENV: 'development', MONGODB_URI: uri }).mongodb.uri.reveal()).toBe(uri);
  });

  it('when the URI asks for secondary reads or a weaker write concern, then startup fails naming the setting', () => {
    expect(
      configProblems({
        NODE_ENV: 'development',
        MONGODB_URI: 'mongodb://db1:27017,db2:27017/erp?replicaSet=rs0&readPreference=secondaryPreferred&w=1',
      }),
    ).toEqual([
      expect.stringMatching(/^MONGODB_URI: readPreference=secondaryPreferred would let decisions read stale data/),
      expect.stringMatching(/^MONGODB_URI: w=1 is weaker than the w=majority/),
    ]);
  });
});
