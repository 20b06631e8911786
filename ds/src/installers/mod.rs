//! Installers: choosing one for a browser and streaming it (to be written).
