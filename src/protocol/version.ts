// This project's version (package.json's), as it names itself to collectors (`service.version`)
// and where the engine would give its own version.

export const ENGINE_VERSION = '0.1.0'
