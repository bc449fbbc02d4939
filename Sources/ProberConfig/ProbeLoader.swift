import ProberCore
import Yams
