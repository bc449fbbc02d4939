import ProberCore
