// Mocha entry point of the packaged pass (see ../runTests.ts): the same runner as the main suite,
// bundled here, so it runs the *.test.js files next to this one.
export { run } from '../suite/index';
