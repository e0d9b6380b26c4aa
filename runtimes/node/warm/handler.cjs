// Loaded by a warm-pool process while it waits, so the module loader's paths are warm when the real handler comes.
module.exports = async () => 'warm';
